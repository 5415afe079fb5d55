"""The deadline of outbound requests, and the part of Connect's 8 s a contact flow gives it."""

from dataclasses import dataclass

import pytest

from chalicelib import deadline


@pytest.fixture
def clock(monkeypatch):
    """A clock that only moves when a test moves it."""

    @dataclass
    class Clock:
        now: float = 100.0

    fake = Clock()
    monkeypatch.setattr(deadline, "_now", lambda: fake.now)
    return fake


def test_deadline_absent_allows_everything():
    assert deadline.seconds_left() is None
    assert deadline.allows(3600)
    assert deadline.cap(5) == 5


def test_deadline_counts_down(clock):
    with deadline.limit(6.5):
        clock.now += 4
        assert deadline.seconds_left() == pytest.approx(2.5)
        assert deadline.allows(2.5)
        assert not deadline.allows(2.6)
        assert deadline.cap(5) == pytest.approx(2.5)
        assert deadline.cap(1) == 1


def test_deadline_never_negative(clock):
    with deadline.limit(1):
        clock.now += 10
        assert deadline.seconds_left() == 0
        assert deadline.cap(5) == 0


def test_deadline_ends_with_block(clock):
    with deadline.limit(1):
        pass

    assert deadline.seconds_left() is None


def test_deadline_inner_block_restores_outer(clock):
    with deadline.limit(6):
        with deadline.limit(1):
            assert deadline.seconds_left() == pytest.approx(1)
        assert deadline.seconds_left() == pytest.approx(6)


@dataclass
class LambdaContext:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(
    ("remaining_ms", "on_lambda", "expected"),
    [
        (8000, True, 6.5),
        (30000, True, 6.5),
        (5000, True, 3.5),
        (1000, True, 0.0),
        (3000, False, 6.5),
    ],
    ids=["connect_limit", "long_timeout", "short_timeout", "nearly_over", "test_client"],
)
def test_contact_flow_outbound_seconds(remaining_ms, on_lambda, expected):
    from chalicelib.channels import connect

    seconds = connect.outbound_seconds(LambdaContext(remaining_ms), on_lambda)

    assert seconds == pytest.approx(expected)
