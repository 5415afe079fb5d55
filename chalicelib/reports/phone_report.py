"""The phone report: one agency's wait-time figures per local day and queue, read in one Query.

Rows are summed as they are stored, so the totals of a day or of the whole range
add counters and histogram bucket counts, and their percentiles come from the
summed buckets (chalicelib/reports/histogram.py states the error bound).
"""

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from chalicelib.agencies import AgencyConfig
from chalicelib.reports import histogram
from chalicelib.reports.phone import NO_QUEUE
from chalicelib.reports.schemas import (
    DayFigures,
    DurationFigures,
    Estimate,
    Figures,
    PercentileMethod,
    PhoneReport,
    QueueFigures,
    TierView,
)
from chalicelib.store.models import (
    HANDLE_BUCKET_PREFIX,
    WAIT_BUCKET_PREFIX,
    PhoneDay,
    phone_report_key,
    phone_row_key,
)

# The maximum range of one request, in days: the longest quarter (July to September).
MAX_REPORT_DAYS = 92
COUNTERS = (
    "inbound_calls",
    "offered",
    "answered",
    "abandoned_in_queue",
    "ended_in_queue",
    "abandoned_in_ivr",
    "ended_in_ivr",
    "callbacks",
    "deflected",
    "wait_seconds_total",
    "handle_seconds_total",
)
PERCENTILE_DESCRIPTION = (
    "Percentiles are nearest-rank percentiles read from fixed histogram buckets. Each "
    "estimate is the midpoint of the bucket that contains the percentile, so it is off "
    "by at most half the bucket's width (max_error_seconds). A percentile in the last, "
    "open bucket has no estimate and is at least its from_seconds."
)


class Totals:
    """Counters and bucket counts of one or more rows, added together."""

    def __init__(self) -> None:
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.wait = [0] * histogram.BUCKET_COUNT
        self.handle = [0] * histogram.BUCKET_COUNT

    def add_row(self, row: Any) -> None:
        for name in COUNTERS:
            self.counters[name] += int(getattr(row, name) or 0)
        for index in range(histogram.BUCKET_COUNT):
            self.wait[index] += int(getattr(row, f"{WAIT_BUCKET_PREFIX}_{index:02d}") or 0)
            self.handle[index] += int(getattr(row, f"{HANDLE_BUCKET_PREFIX}_{index:02d}") or 0)

    def add(self, other: "Totals") -> None:
        for name in COUNTERS:
            self.counters[name] += other.counters[name]
        self.wait = [mine + theirs for mine, theirs in zip(self.wait, other.wait, strict=True)]
        self.handle = [
            mine + theirs for mine, theirs in zip(self.handle, other.handle, strict=True)
        ]

    def figures(self) -> dict[str, Any]:
        counters = self.counters
        inbound = counters["inbound_calls"]
        return {
            **{name: counters[name] for name in COUNTERS if not name.endswith("_total")},
            "deflected_share": round(counters["deflected"] / inbound, 4) if inbound else None,
            "time_in_queue": _durations(self.wait, counters["wait_seconds_total"]),
            "handle_time": _durations(self.handle, counters["handle_seconds_total"]),
        }


def phone_report(agency: AgencyConfig, start: date, end: date) -> PhoneReport:
    """Return the agency's figures of every local day from `start` to `end`, both included."""
    rows = _rows(agency.agency_id, start, end)
    by_day: dict[str, list[Any]] = {}
    for row in rows:
        by_day.setdefault(row.day, []).append(row)

    overall = Totals()
    days = []
    for offset in range((end - start).days + 1):
        day = (start + timedelta(days=offset)).isoformat()
        day_totals = Totals()
        queues = []
        for row in sorted(by_day.get(day, []), key=lambda item: item.queue_id):
            totals = Totals()
            totals.add_row(row)
            day_totals.add(totals)
            queues.append(_queue_figures(row, totals))
        overall.add(day_totals)
        days.append(DayFigures(date=day, totals=Figures(**day_totals.figures()), queues=queues))
    return PhoneReport(
        agency_id=agency.agency_id,
        timezone=agency.timezone,
        from_date=start.isoformat(),
        to_date=end.isoformat(),
        percentiles=PercentileMethod(description=PERCENTILE_DESCRIPTION, tiers=_tiers()),
        totals=Figures(**overall.figures()),
        days=days,
    )


def _rows(agency_id: str, start: date, end: date) -> Iterable[Any]:
    # `~` sorts after every queue id, so the upper bound includes all of the last day.
    condition = PhoneDay.sk.between(
        phone_row_key(start.isoformat(), ""), f"DAY#{end.isoformat()}#~"
    )
    return PhoneDay.query(phone_report_key(agency_id), condition)


def _queue_figures(row: Any, totals: Totals) -> QueueFigures:
    reached_queue = row.queue_id != NO_QUEUE
    return QueueFigures(
        queue_id=row.queue_id if reached_queue else None,
        queue_arn=row.queue_arn,
        queue_name=row.queue_name,
        **totals.figures(),
    )


def _durations(counts: list[int], total_seconds: int) -> DurationFigures:
    count = sum(counts)
    return DurationFigures(
        count=count,
        average_seconds=round(total_seconds / count, 1) if count else None,
        median=_estimate(histogram.percentile(counts, 0.5)),
        p90=_estimate(histogram.percentile(counts, 0.9)),
    )


def _estimate(found: histogram.Percentile | None) -> Estimate | None:
    if found is None:
        return None
    return Estimate(
        seconds=found.estimate,
        from_seconds=found.bucket.low,
        to_seconds=found.bucket.high,
        max_error_seconds=found.bucket.max_error,
    )


def _tiers() -> list[TierView]:
    tiers = [
        TierView(
            from_seconds=start, to_seconds=end, width_seconds=width, max_error_seconds=width / 2
        )
        for start, end, width in histogram.TIERS
    ]
    last = histogram.BUCKETS[-1]
    open_tier = TierView(
        from_seconds=last.low, to_seconds=None, width_seconds=None, max_error_seconds=None
    )
    return [*tiers, open_tier]
