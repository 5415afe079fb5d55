"""Large webhook deliveries: items recorded concurrently, once each, within a time budget.

A delivery cut short by the budget gets 503, and Meta delivers the same body again.
The dedupe markers make that delivery record only what the first one left.
"""

import itertools
import json
from collections import Counter

import pytest

from chalicelib import clock
from tests import support
from tests import support_webhooks as hooks

SENDERS = 30
PER_SENDER = 10


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


@pytest.fixture
def logs():
    yield from support.capture_logs()


def post_whatsapp(client, demo_agency, raw):
    return hooks.post_signed(client, hooks.WHATSAPP_PATH, raw, demo_agency["whatsapp_app_secret"])


def inbound_ids():
    """Return how many inbound contacts carry each external message id."""
    return Counter(item["external_id"] for item in support.contacts("inbound"))


def markers():
    return support.items_of_kind("EVENT#", "EVENT")


@pytest.fixture
def no_time_passes(monkeypatch):
    """Stop the budget's clock, because moto in process records far slower than DynamoDB."""
    monkeypatch.setattr(clock, "monotonic", lambda: 0.0)


def test_whatsapp_300_messages_recorded_once(client, demo_agency, no_time_passes):
    raw = hooks.whatsapp_batch_body(SENDERS, PER_SENDER)

    response = post_whatsapp(client, demo_agency, raw)

    assert response.status_code == 200, response.body
    counts = inbound_ids()
    assert len(counts) == SENDERS * PER_SENDER
    assert set(counts.values()) == {1}
    assert len(markers()) == SENDERS * PER_SENDER
    cases = support.items_of_kind("CASE#", "CASE")
    assert len(cases) == SENDERS
    assert sorted(case["contact_count"] for case in cases) == [PER_SENDER] * SENDERS


def test_whatsapp_sender_messages_keep_their_order(client, demo_agency, no_time_passes):
    raw = hooks.whatsapp_batch_body(6, 5)

    post_whatsapp(client, demo_agency, raw)

    for sender in range(6):
        link = support.get_item(f"IDENTITY#whatsapp#{hooks.batch_identity(sender)}", "LINK")
        contacts = [
            item for item in support.timeline(link["citizen_id"]) if item["direction"] == "inbound"
        ]
        recorded = [item["recorded_at"] for item in contacts]
        by_time = [item["external_id"] for item in contacts]
        assert by_time == [f"wamid.batch-{sender}-{number}" for number in range(5)]
        assert recorded == sorted(recorded)


def test_whatsapp_cut_short_completed_by_redelivery(client, demo_agency, monkeypatch):
    raw = hooks.whatsapp_batch_body(6, 10)
    # Each read of the clock moves it one second on, so the 20 s budget lets the
    # same number of items start whatever the threads do.
    ticks = itertools.count()
    with monkeypatch.context() as patch:
        patch.setattr(clock, "monotonic", lambda: float(next(ticks)))
        first = post_whatsapp(client, demo_agency, raw)

    assert first.status_code == 503
    assert json.loads(first.body)["error"]["code"] == "service_unavailable"
    recorded_first = inbound_ids()
    assert 0 < len(recorded_first) < 60
    assert set(recorded_first.values()) == {1}

    monkeypatch.setattr(clock, "monotonic", lambda: 0.0)
    second = post_whatsapp(client, demo_agency, raw)

    assert second.status_code == 200, second.body
    counts = inbound_ids()
    assert len(counts) == 60
    assert set(counts.values()) == {1}
    assert len(markers()) == 60
    items_after = len(support.scan_items())

    third = post_whatsapp(client, demo_agency, raw)

    assert third.status_code == 200, third.body
    assert len(support.scan_items()) == items_after


def test_whatsapp_cut_short_logs_counts(client, demo_agency, monkeypatch, logs):
    raw = hooks.whatsapp_batch_body(2, 5)
    ticks = itertools.count()
    monkeypatch.setattr(clock, "monotonic", lambda: float(next(ticks)) * 10)

    response = post_whatsapp(client, demo_agency, raw)

    assert response.status_code == 503
    records = logs.records()
    (line,) = [record for record in records if record["message"] == "webhook delivery cut short"]
    assert line["channel"] == "whatsapp"
    assert line["items_finished"] + line["items_left"] == 10
    assert line["items_left"] > 0


def test_messenger_large_delivery_recorded_once(client, demo_agency, no_time_passes):
    raw = hooks.messenger_batch_body(10, 6)

    response = hooks.post_signed(
        client, hooks.MESSENGER_PATH, raw, demo_agency["messenger_app_secret"]
    )

    assert response.status_code == 200, response.body
    counts = inbound_ids()
    assert len(counts) == 60
    assert set(counts.values()) == {1}
    assert len(support.items_of_kind("CASE#", "CASE")) == 10
