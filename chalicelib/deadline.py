"""The time left for outbound requests while a caller waits for the handler to return.

A contact flow waits at most 8 s for its Lambda function, and a late answer takes
the flow's error branch however well the work went. The handler sets a deadline for
its outbound requests, and each send checks it before it starts: a request whose
worst case no longer fits is not made, and Graph API requests get no more time than
is left. Outside `limit` nothing is bounded, so SNS and HTTP handlers are unaffected.

The deadline lives in a context variable, so the sends deep in the notify service
read it without every function between them passing it on.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The monotonic time by which outbound requests must have finished, or None.
_ends_at: ContextVar[float | None] = ContextVar("outbound_requests_end_at", default=None)


def _now() -> float:
    return time.monotonic()


@contextmanager
def limit(seconds: float) -> Iterator[None]:
    """Let outbound requests made inside the block take `seconds` in total."""
    token = _ends_at.set(_now() + seconds)
    try:
        yield
    finally:
        _ends_at.reset(token)


def seconds_left() -> float | None:
    """Return the seconds left before the deadline (at least 0), or None without one."""
    ends_at = _ends_at.get()
    if ends_at is None:
        return None
    return max(0.0, ends_at - _now())


def allows(seconds: float) -> bool:
    """Return whether a request that may take `seconds` ends before the deadline."""
    left = seconds_left()
    return left is None or left >= seconds


def cap(timeout: float) -> float:
    """Return `timeout`, shortened to the seconds left when a deadline is set."""
    left = seconds_left()
    return timeout if left is None else min(timeout, left)
