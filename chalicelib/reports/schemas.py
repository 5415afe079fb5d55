"""Response bodies of the reports API. Durations are in seconds; dates are local dates."""

from pydantic import BaseModel, ConfigDict


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TierView(_Response):
    """Histogram buckets of one width, from `from_seconds` up to, not including, `to_seconds`."""

    from_seconds: int
    # None for the last bucket, which is open.
    to_seconds: int | None
    width_seconds: int | None
    # Half the width: the maximum error of an estimate in a bucket of this tier.
    max_error_seconds: float | None


class PercentileMethod(_Response):
    description: str
    tiers: list[TierView]


class Estimate(_Response):
    """A percentile: the midpoint of the histogram bucket that contains it, and its error bound."""

    # None when the percentile is in the open last bucket, at least `from_seconds`.
    seconds: float | None
    from_seconds: int
    to_seconds: int | None
    max_error_seconds: float | None


class DurationFigures(_Response):
    count: int
    # Exact, from the sum of the durations counted.
    average_seconds: float | None
    median: Estimate | None
    p90: Estimate | None


class Figures(_Response):
    inbound_calls: int
    offered: int
    answered: int
    abandoned_in_queue: int
    ended_in_queue: int
    abandoned_in_ivr: int
    ended_in_ivr: int
    callbacks: int
    deflected: int
    # Deflected callers per inbound call, or None without inbound calls.
    deflected_share: float | None
    time_in_queue: DurationFigures
    handle_time: DurationFigures


class QueueFigures(Figures):
    # None for the row of contacts that reached no queue.
    queue_id: str | None
    queue_arn: str | None
    queue_name: str | None


class DayFigures(_Response):
    date: str
    totals: Figures
    queues: list[QueueFigures]


class PhoneReport(_Response):
    agency_id: str
    timezone: str
    from_date: str
    to_date: str
    percentiles: PercentileMethod
    totals: Figures
    days: list[DayFigures]
