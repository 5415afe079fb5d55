"""UTC time in the one string form stored everywhere, and a monotonic clock for deadlines."""

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat_z(moment: datetime) -> str:
    """Format as `2026-12-04T10:14:41.123Z`, which sorts as text in time order."""
    moment = moment.astimezone(UTC)
    # `%Y` does not pad years before 1000 on Linux, so the year is padded here.
    milliseconds = moment.microsecond // 1000
    return f"{moment.year:04d}{moment.strftime('-%m-%dT%H:%M:%S')}.{milliseconds:03d}Z"


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with a `Z` or offset suffix; raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


def monotonic() -> float:
    """Return seconds of a clock that never goes back, for deadlines within one event."""
    return time.monotonic()
