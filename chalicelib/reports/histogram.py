"""Fixed histogram buckets for durations in seconds, and percentiles read from them.

Figures are aggregated with atomic counters, so a day's time in queue and handle
time are stored as counts per bucket, never as a list of values. A percentile is
read by nearest rank over the counts and reported as the midpoint of the bucket
that contains it. The true nearest-rank value lies in that bucket, so the error is at
most half the bucket's width:

| durations | bucket width | buckets | maximum error |
| --- | ---: | ---: | ---: |
| 0 s to 60 s | 5 s | 12 | 2.5 s |
| 60 s to 5 min | 15 s | 16 | 7.5 s |
| 5 min to 20 min | 60 s | 15 | 30 s |
| 20 min to 60 min | 300 s | 8 | 150 s |
| 60 min and more | open | 1 | unbounded: reported as at least 60 min |
"""

import math
from dataclasses import dataclass

# (start, end, width) of each tier, in seconds. Together the tiers cover 0 to 3600 s.
TIERS = ((0, 60, 5), (60, 300, 15), (300, 1200, 60), (1200, 3600, 300))
MAX_BOUNDED_SECONDS = TIERS[-1][1]


@dataclass(frozen=True)
class Bucket:
    """Durations from `low` (inclusive) to `high` (exclusive) seconds; `high` None is open."""

    low: int
    high: int | None

    @property
    def width(self) -> int | None:
        return None if self.high is None else self.high - self.low

    @property
    def max_error(self) -> float | None:
        """Return the maximum difference between the midpoint and any duration in this bucket."""
        return None if self.width is None else self.width / 2


def _buckets() -> tuple[Bucket, ...]:
    buckets = [
        Bucket(low, low + width) for start, end, width in TIERS for low in range(start, end, width)
    ]
    return (*buckets, Bucket(MAX_BOUNDED_SECONDS, None))


BUCKETS = _buckets()
BUCKET_COUNT = len(BUCKETS)


def bucket_index(seconds: float) -> int:
    """Return the index of the bucket that contains a duration. Negative durations count as 0 s."""
    seconds = max(0.0, float(seconds))
    index = 0
    for start, end, width in TIERS:
        if seconds < end:
            return index + int((seconds - start) // width)
        index += (end - start) // width
    return BUCKET_COUNT - 1


@dataclass(frozen=True)
class Percentile:
    """A percentile read from bucket counts: the bucket that contains it and its midpoint."""

    bucket: Bucket
    # The bucket's midpoint, or None for the open last bucket.
    estimate: float | None


def percentile(counts: list[int], fraction: float) -> Percentile | None:
    """Return the nearest-rank percentile of the counted durations, or None when there are none.

    `fraction` is 0.5 for the median and 0.9 for the 90th percentile.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            bucket = BUCKETS[index]
            estimate = None if bucket.high is None else (bucket.low + bucket.high) / 2
            return Percentile(bucket, estimate)
    raise AssertionError("the rank is at most the total of the counts")
