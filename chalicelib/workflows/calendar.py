"""Business-time arithmetic on an agency's calendar, for workflow waits and deadlines.

Opening hours and quiet hours are wall-clock times, and closed days are dates, in the
agency's IANA time zone. Datetimes passed in must be timezone-aware, because naive ones
raise ValueError, and datetimes returned are in UTC. Business time is elapsed time inside
opening intervals, so an ordinary 09:00-17:00 day lasts 8 hours on either side of a
daylight-saving change. On a day whose opening hours contain the change itself, an
interval from 00:00 to 08:00 lasts 7 or 9 hours. A wall time that a spring-forward change
skips is read with the offset in force before the change (02:30 becomes 03:30), and one
that a fall-back change repeats means its first occurrence.
"""

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from chalicelib.errors import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A calendar with no working day in this many days in a row raises instead of looping.
MAX_CLOSED_DAYS = 366

_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class TimeRange(NamedTuple):
    """A span of local wall-clock time from `start` to `end`."""

    start: time
    end: time


class InvalidCalendarError(ValidationError, ValueError):
    """A calendar setting that is missing, malformed or contradictory."""


# Monday to Friday 09:00-17:00, a common public-office day, so that 8 business hours
# are one working day. Agencies with other hours or a lunch break set `working_hours`.
DEFAULT_WORKING_HOURS: tuple[tuple[TimeRange, ...], ...] = (
    *((TimeRange(time(9), time(17)),),) * 5,
    (),
    (),
)
# No messages to citizens after 21:00 or before 08:00 local time.
DEFAULT_QUIET_HOURS = TimeRange(time(21), time(8))

_FIELDS = (
    "timezone",
    "country",
    "subdivision",
    "holiday_categories",
    "working_hours",
    "closed_days",
    "quiet_hours",
)


@dataclass(frozen=True)
class BusinessCalendar:
    """An agency's opening hours, days off and quiet hours, in its local time."""

    # IANA time zone name, such as `America/Mexico_City`.
    timezone: str
    # ISO 3166-1 alpha-2 code of the country whose holidays apply, such as `MX`.
    country: str
    # Region whose own holidays apply too, as the holidays package names it (`MD` in `ES`).
    subdivision: str | None = None
    # Categories of the holidays package counted as days off, such as `government` in `US`.
    holiday_categories: tuple[str, ...] = ("public",)
    # Opening intervals per weekday, Monday first, each day's in time order.
    working_hours: tuple[tuple[TimeRange, ...], ...] = DEFAULT_WORKING_HOURS
    # Dates the agency is closed on top of holidays.
    closed_days: frozenset[date] = frozenset()
    # Open interval in which no message goes to a citizen: sending exactly at its start
    # or end is allowed. A start later than the end spans midnight, and None turns quiet
    # hours off.
    quiet_hours: TimeRange | None = DEFAULT_QUIET_HOURS

    def __post_init__(self) -> None:
        object.__setattr__(self, "holiday_categories", tuple(self.holiday_categories))
        object.__setattr__(self, "closed_days", frozenset(self.closed_days))
        _check_timezone(self.timezone)
        _check_holidays(self.country, self.subdivision, self.holiday_categories)
        _check_working_hours(self.working_hours)
        _check_quiet_hours(self.quiet_hours)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "BusinessCalendar":
        """Build a calendar from an agency's stored settings.

        `timezone` and `country` are required. `working_hours` maps `mon` to `sun` to
        lists of `["HH:MM", "HH:MM"]` intervals and replaces the whole default week, so a
        weekday it leaves out is closed. `closed_days` lists `YYYY-MM-DD` dates, and
        `quiet_hours` is one interval or null. Raises InvalidCalendarError (a ValueError)
        whose message starts with the path of the field at fault.
        """
        if not isinstance(config, Mapping):
            raise InvalidCalendarError(
                f"calendar: expected an object, got {type(config).__name__}", field="calendar"
            )
        unknown = [key for key in config if key not in _FIELDS]
        if unknown:
            raise InvalidCalendarError(
                f"{unknown[0]}: is not a known field; expected one of {', '.join(_FIELDS)}",
                field=unknown[0],
            )

        arguments: dict[str, Any] = {
            "timezone": _parse_text(config.get("timezone"), "timezone"),
            "country": _parse_text(config.get("country"), "country"),
        }
        if config.get("subdivision") is not None:
            arguments["subdivision"] = _parse_text(config["subdivision"], "subdivision")
        if "holiday_categories" in config:
            arguments["holiday_categories"] = _parse_categories(config["holiday_categories"])
        if "working_hours" in config:
            arguments["working_hours"] = _parse_working_hours(config["working_hours"])
        if "closed_days" in config:
            arguments["closed_days"] = _parse_closed_days(config["closed_days"])
        if "quiet_hours" in config:
            quiet_hours = config["quiet_hours"]
            if quiet_hours is not None:
                quiet_hours = _parse_range(quiet_hours, "quiet_hours")
            arguments["quiet_hours"] = quiet_hours
        return cls(**arguments)


def local_date(calendar: BusinessCalendar, moment: datetime) -> date:
    """Return the date on the agency's wall calendar at `moment`."""
    return _utc(moment, "moment").astimezone(calendar.zone).date()


def is_working_day(calendar: BusinessCalendar, day: date) -> bool:
    """Tell whether `day` has opening hours and is neither a holiday nor a closed day."""
    return (
        bool(calendar.working_hours[day.weekday()])
        and day not in calendar.closed_days
        and day not in _holiday_dates(calendar)
    )


def opening_intervals(calendar: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """Return the opening intervals of the local date `day` in UTC, none on a day off."""
    if not is_working_day(calendar, day):
        return []
    intervals = []
    for opening in calendar.working_hours[day.weekday()]:
        open_at = _at_local(day, opening.start, calendar.zone)
        close_at = _at_local(day, opening.end, calendar.zone)
        if close_at > open_at:
            intervals.append((open_at, close_at))
    return intervals


def add_business_seconds(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """Return the moment at which `seconds` of business time have passed since `start`.

    Counting starts at `start` when the agency is open then, else at its next opening.
    A count that runs out exactly at a closing time returns that closing time, and zero
    seconds return the next opening. Raises ValueError for negative `seconds`.
    """
    return _add_business_time(calendar, _utc(start, "start"), _duration(seconds, "seconds"))


def add_business_hours(calendar: BusinessCalendar, start: datetime, hours: float) -> datetime:
    """Return the moment `hours` of business time after `start`, as add_business_seconds."""
    return _add_business_time(
        calendar, _utc(start, "start"), _duration(hours, "hours", unit_seconds=3600)
    )


def add_business_days(calendar: BusinessCalendar, start: datetime, days: int) -> datetime:
    """Return the closing time of the `days`-th working day after the filing day.

    The filing day is the local date of the first opening at or after `start`. So a
    filing inside opening hours counts from its own day, and one made after closing or
    on a day off counts from the next working day. The filing day itself is not counted.
    Monday 10:00 plus 3 days is Thursday's close, and Saturday plus 3 is Thursday's close
    too because Monday is then the filing day. Zero days return the filing day's close.
    """
    start = _utc(start, "start")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be a non-negative integer, got {days!r}")

    day, _, _ = next(_intervals_from(calendar, start))
    intervals = opening_intervals(calendar, day)
    for _ in range(days):
        day, intervals = _next_working_day(calendar, day)
    return intervals[-1][1]


def business_seconds_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Return the whole seconds of business time from `start` to `end`, rounded down.

    Returns 0 when `end` is not after `start`. Pausing a deadline stores this count from
    the pause to the due time, and add_business_seconds from the resume gives the new one.
    """
    start = _utc(start, "start")
    end = _utc(end, "end")
    if end <= start:
        return 0

    total = timedelta()
    for _, open_at, close_at in _intervals_from(calendar, start):
        if open_at >= end:
            break
        total += min(close_at, end) - open_at
    return total // timedelta(seconds=1)


def next_send_time(calendar: BusinessCalendar, moment: datetime) -> datetime:
    """Return `moment` if it is outside quiet hours, else the end of its quiet period."""
    moment = _utc(moment, "moment")
    period = _quiet_period(calendar, moment)
    return moment if period is None else period[1]


def reminder_time(
    calendar: BusinessCalendar,
    appointment_at: datetime,
    hours_before: float,
    *,
    now: datetime,
) -> datetime | None:
    """Return when to remind a citizen of an appointment, or None if no time fits.

    The reminder goes `hours_before` the appointment. If that falls in quiet hours it
    moves earlier to the start of the quiet period, so that it still arrives first. If
    the result is before `now`, it becomes now's next send time. A time that is not
    before the appointment returns None, because such a reminder would come too late.
    """
    appointment_at = _utc(appointment_at, "appointment_at")
    now = _utc(now, "now")
    send_at = appointment_at - _duration(hours_before, "hours_before", unit_seconds=3600)

    period = _quiet_period(calendar, send_at)
    if period is not None:
        send_at = period[0]
    if send_at < now:
        send_at = next_send_time(calendar, now)
    return send_at if send_at < appointment_at else None


def seconds_until(moment: datetime, now: datetime) -> int:
    """Return the whole seconds from `now` to `moment`, rounded up, and 0 once it has passed.

    Rounding up keeps a Step Functions Wait state's `SecondsPath` from ending early.
    """
    delta = _utc(moment, "moment") - _utc(now, "now")
    if delta <= timedelta():
        return 0
    return -(-delta // timedelta(seconds=1))


def wait_timestamp(moment: datetime) -> str:
    """Format `moment` for a Wait state's `TimestampPath`, as `2026-12-04T10:14:42Z`.

    A fraction of a second is rounded up to the next whole second, so the wait never
    ends before `moment`.
    """
    # moto 5.2.5 matches Timestamp values against `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z`,
    # so it rejects `+00:00`, and it compares them with naive local time, right only when TZ=UTC.
    moment = _utc(moment, "moment")
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    # `%Y` does not pad years before 1000 on Linux, so the year is padded here.
    return f"{moment.year:04d}{moment.strftime('-%m-%dT%H:%M:%S')}Z"


def _add_business_time(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> datetime:
    remaining = duration
    for _, open_at, close_at in _intervals_from(calendar, start):
        if remaining <= close_at - open_at:
            return open_at + remaining
        remaining -= close_at - open_at
    raise AssertionError("_intervals_from never runs out")


def _intervals_from(
    calendar: BusinessCalendar, start: datetime
) -> Iterator[tuple[date, datetime, datetime]]:
    """Yield each opening interval that ends after `start` as (local date, open, close).

    The first interval is clipped to begin at `start`. The iterator never ends.
    """
    day = local_date(calendar, start)
    intervals = opening_intervals(calendar, day)
    while True:
        for open_at, close_at in intervals:
            if close_at > start:
                yield day, max(open_at, start), close_at
        day, intervals = _next_working_day(calendar, day)


def _next_working_day(
    calendar: BusinessCalendar, day: date
) -> tuple[date, list[tuple[datetime, datetime]]]:
    for offset in range(1, MAX_CLOSED_DAYS + 1):
        candidate = day + timedelta(days=offset)
        intervals = opening_intervals(calendar, candidate)
        if intervals:
            return candidate, intervals
    raise ValueError(f"calendar has no opening hours in the {MAX_CLOSED_DAYS} days after {day}")


def _quiet_period(calendar: BusinessCalendar, moment: datetime) -> tuple[datetime, datetime] | None:
    """Return the (start, end) in UTC of the quiet period that contains `moment`, if any."""
    quiet = calendar.quiet_hours
    if quiet is None:
        return None
    local = moment.astimezone(calendar.zone)
    wall, day = local.time(), local.date()
    one_day = timedelta(days=1)

    if quiet.start < quiet.end:
        if not quiet.start < wall < quiet.end:
            return None
        start_day, end_day = day, day
    elif wall > quiet.start:
        start_day, end_day = day, day + one_day
    elif wall < quiet.end:
        start_day, end_day = day - one_day, day
    else:
        return None
    # NOTE: a quiet start inside a skipped hour maps past it (02:30 reads as 03:30), so a
    # reminder at 03:10 that night would move later, not earlier.
    return _at_local(start_day, quiet.start, calendar.zone), _at_local(
        end_day, quiet.end, calendar.zone
    )


def _at_local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    # fold=0 reads a skipped time with the earlier offset and a repeated one as its first.
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} is naive; expected a timezone-aware datetime")
    return value.astimezone(UTC)


def _duration(amount: float, name: str, unit_seconds: int = 1) -> timedelta:
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {amount!r}")
    return timedelta(seconds=amount * unit_seconds)


@functools.lru_cache(maxsize=64)
def _holidays(
    country: str, subdivision: str | None, categories: tuple[str, ...]
) -> holidays.HolidayBase:
    # The holidays object adds each year's dates the first time a date in it is looked up.
    return holidays.country_holidays(country, subdiv=subdivision, categories=categories)


def _holiday_dates(calendar: BusinessCalendar) -> holidays.HolidayBase:
    return _holidays(calendar.country, calendar.subdivision, calendar.holiday_categories)


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise InvalidCalendarError(
            f"timezone: unknown time zone {name!r}; "
            "expected an IANA name such as 'America/Mexico_City'",
            field="timezone",
        ) from error


def _check_holidays(country: str, subdivision: str | None, categories: tuple[str, ...]) -> None:
    try:
        national = holidays.country_holidays(country)
    except NotImplementedError as error:
        raise InvalidCalendarError(
            f"country: unknown country code {country!r}; expected an upper-case "
            "ISO 3166-1 alpha-2 code that the holidays package supports, such as 'MX'",
            field="country",
        ) from error
    if subdivision is not None and subdivision not in national.subdivisions:
        known = ", ".join(national.subdivisions[:5]) or "none"
        raise InvalidCalendarError(
            f"subdivision: {country} has no subdivision {subdivision!r} in the holidays "
            f"package; expected a code such as: {known}",
            field="subdivision",
        )
    unsupported = sorted(set(categories) - set(national.supported_categories))
    if not categories or unsupported:
        raise InvalidCalendarError(
            f"holiday_categories: {', '.join(unsupported) or 'none given'} not supported for "
            f"{country}; expected some of {', '.join(national.supported_categories)}",
            field="holiday_categories",
        )
    _holidays(country, subdivision, categories)


def _check_working_hours(working_hours: tuple[tuple[TimeRange, ...], ...]) -> None:
    if len(working_hours) != len(WEEKDAYS):
        raise InvalidCalendarError(
            f"working_hours: expected 7 days, Monday first, got {len(working_hours)}",
            field="working_hours",
        )
    for name, intervals in zip(WEEKDAYS, working_hours, strict=True):
        previous_end: time | None = None
        for index, (start, end) in enumerate(intervals):
            path = f"working_hours.{name}[{index}]"
            if end <= start:
                raise InvalidCalendarError(
                    f"{path}: end {end:%H:%M} is not after start {start:%H:%M}; "
                    "an opening interval must end later the same day",
                    field=path,
                )
            if previous_end is not None and start < previous_end:
                raise InvalidCalendarError(
                    f"{path}: starts at {start:%H:%M}, before the previous interval ends at "
                    f"{previous_end:%H:%M}; list intervals in time order without overlap",
                    field=path,
                )
            previous_end = end
    if not any(working_hours):
        raise InvalidCalendarError(
            "working_hours: no weekday has opening hours; expected at least one interval",
            field="working_hours",
        )


def _check_quiet_hours(quiet_hours: TimeRange | None) -> None:
    if quiet_hours is not None and quiet_hours.start == quiet_hours.end:
        raise InvalidCalendarError(
            f"quiet_hours: start and end are both {quiet_hours.start:%H:%M}; "
            "expected two different times, or null for no quiet hours",
            field="quiet_hours",
        )


def _parse_text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidCalendarError(
            f"{path}: expected a non-empty string, got {value!r}", field=path
        )
    return value


def _parse_time(value: Any, path: str) -> time:
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidCalendarError(
            f"{path}: invalid time {value!r}; expected 'HH:MM' from 00:00 to 23:59, "
            "such as '09:00'",
            field=path,
        )
    return time(int(match[1]), int(match[2]))


def _parse_range(value: Any, path: str) -> TimeRange:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidCalendarError(
            f"{path}: invalid interval {value!r}; expected a start and an end such as "
            "['09:00', '17:00']",
            field=path,
        )
    return TimeRange(_parse_time(value[0], f"{path}[0]"), _parse_time(value[1], f"{path}[1]"))


def _parse_working_hours(value: Any) -> tuple[tuple[TimeRange, ...], ...]:
    if not isinstance(value, Mapping):
        raise InvalidCalendarError(
            "working_hours: expected an object from weekday ('mon' to 'sun') to a list "
            f"of intervals, got {type(value).__name__}",
            field="working_hours",
        )
    unknown = sorted(set(value) - set(WEEKDAYS))
    if unknown:
        path = f"working_hours.{unknown[0]}"
        raise InvalidCalendarError(
            f"{path}: unknown weekday; expected one of {', '.join(WEEKDAYS)}", field=path
        )

    week = []
    for name in WEEKDAYS:
        path = f"working_hours.{name}"
        intervals = value.get(name, [])
        if not isinstance(intervals, list | tuple):
            raise InvalidCalendarError(
                f"{path}: expected a list of intervals such as "
                f"[['09:00', '14:00'], ['15:00', '18:00']], got {intervals!r}",
                field=path,
            )
        week.append(tuple(_parse_range(item, f"{path}[{i}]") for i, item in enumerate(intervals)))
    return tuple(week)


def _parse_closed_days(value: Any) -> frozenset[date]:
    if not isinstance(value, list | tuple):
        raise InvalidCalendarError(
            f"closed_days: expected a list of dates such as ['2026-12-24'], got {value!r}",
            field="closed_days",
        )
    days = set()
    for index, item in enumerate(value):
        path = f"closed_days[{index}]"
        try:
            if not isinstance(item, str) or not _ISO_DATE.fullmatch(item):
                raise ValueError(item)
            days.add(date.fromisoformat(item))
        except ValueError as error:
            raise InvalidCalendarError(
                f"{path}: invalid date {item!r}; expected 'YYYY-MM-DD' such as '2026-12-24'",
                field=path,
            ) from error
    return frozenset(days)


def _parse_categories(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidCalendarError(
            f"holiday_categories: expected a list of strings such as ['public'], got {value!r}",
            field="holiday_categories",
        )
    return tuple(value)
