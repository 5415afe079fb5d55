"""Business-time arithmetic, with every expected moment worked out by hand.

Mexico City has kept UTC-6 all year since 2022, so its 09:00-17:00 day is 15:00Z-23:00Z.
The holidays below are those of holidays 0.109, the version pinned in requirements.txt.
"""

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp

from chalicelib.workflows.calendar import (
    DEFAULT_QUIET_HOURS,
    DEFAULT_WORKING_HOURS,
    BusinessCalendar,
    InvalidCalendarError,
    TimeRange,
    add_business_days,
    add_business_hours,
    add_business_seconds,
    business_seconds_between,
    is_working_day,
    local_date,
    next_send_time,
    opening_intervals,
    reminder_time,
    seconds_until,
    wait_timestamp,
)

MEXICO = BusinessCalendar.from_dict({"timezone": "America/Mexico_City", "country": "MX"})
MEXICO_LUNCH = BusinessCalendar.from_dict(
    {
        "timezone": "America/Mexico_City",
        "country": "MX",
        "working_hours": {
            day: [["09:00", "14:00"], ["15:00", "18:00"]] for day in ("mon", "tue", "wed", "thu")
        }
        | {"fri": [["09:00", "14:00"]]},
    }
)
MEXICO_CLOSED_CHRISTMAS_EVE = BusinessCalendar.from_dict(
    {"timezone": "America/Mexico_City", "country": "MX", "closed_days": ["2026-12-24"]}
)
NEW_YORK = BusinessCalendar.from_dict({"timezone": "America/New_York", "country": "US"})
MADRID = BusinessCalendar.from_dict(
    {"timezone": "Europe/Madrid", "country": "ES", "subdivision": "MD"}
)
SANTIAGO = BusinessCalendar.from_dict({"timezone": "America/Santiago", "country": "CL"})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_holidays_package_has_fixture_holidays():
    mexico = holidays.country_holidays("MX", years=2026)

    assert date(2026, 2, 2) in mexico  # Constitution Day, first Monday of February
    assert date(2026, 9, 16) in mexico  # Independence Day
    assert date(2026, 12, 25) in mexico
    assert date(2026, 12, 24) not in mexico


@pytest.mark.parametrize(
    ("calendar", "start", "hours", "expected"),
    [
        # Friday 16:00 local: 1 hour on Friday, 1 on Monday.
        pytest.param(MEXICO, "2026-11-27T22:00", 2, "2026-11-30T16:00", id="weekend"),
        # Tuesday 15 September 16:00 local: Wednesday is Independence Day.
        pytest.param(MEXICO, "2026-09-15T22:00", 2, "2026-09-17T16:00", id="holiday"),
        # Friday 30 January 16:30 local: Monday 2 February is Constitution Day.
        pytest.param(MEXICO, "2026-01-30T22:30", 1, "2026-02-03T15:30", id="movable-holiday"),
        # Wednesday 23 December 16:00 local: closed on the 24th, Christmas on the 25th.
        pytest.param(
            MEXICO_CLOSED_CHRISTMAS_EVE,
            "2026-12-23T22:00",
            2,
            "2026-12-28T16:00",
            id="closed-day",
        ),
        # Monday 18:00 local, after closing: counts from Tuesday 09:00.
        pytest.param(MEXICO, "2026-12-01T00:00", 1, "2026-12-01T16:00", id="after-close"),
        # Tuesday 07:00 local, before opening.
        pytest.param(MEXICO, "2026-12-01T13:00", 1, "2026-12-01T16:00", id="before-opening"),
        # Wednesday 16 September 12:00 local, on the holiday itself.
        pytest.param(MEXICO, "2026-09-16T18:00", 1, "2026-09-17T16:00", id="on-holiday"),
        # Monday 09:00 local plus 8 hours ends at Monday's close, not Tuesday's opening.
        pytest.param(MEXICO, "2026-11-30T15:00", 8, "2026-11-30T23:00", id="ends-at-close"),
        # Monday 13:30 local: 30 minutes before lunch, 30 after it, so 15:30 local.
        pytest.param(MEXICO_LUNCH, "2026-11-30T19:30", 1, "2026-11-30T21:30", id="lunch-break"),
        # Monday 10:00 local: 7 hours Monday, 8 Tuesday, 1 Wednesday.
        pytest.param(MEXICO, "2026-11-30T16:00", 16, "2026-12-02T16:00", id="several-days"),
        pytest.param(MEXICO, "2026-11-30T15:00", 0.5, "2026-11-30T15:30", id="half-hour"),
        # Saturday: zero hours return Monday's opening.
        pytest.param(MEXICO, "2026-11-28T18:00", 0, "2026-11-30T15:00", id="zero-on-weekend"),
        # Friday 6 March 09:00 EST plus 16 hours: Monday 9 March closes at 17:00 EDT.
        pytest.param(NEW_YORK, "2026-03-06T14:00", 16, "2026-03-09T21:00", id="spring-forward"),
        # Friday 30 October 13:00 EDT: 4 hours Friday, then Monday 09:00-13:00 EST.
        pytest.param(NEW_YORK, "2026-10-30T17:00", 8, "2026-11-02T18:00", id="fall-back"),
        # Friday 27 March 16:00 CET: Monday 30 March opens at 09:00 CEST.
        pytest.param(MADRID, "2026-03-27T15:00", 2, "2026-03-30T08:00", id="madrid-spring"),
        # Friday 23 October 16:00 CEST: Monday 26 October opens at 09:00 CET.
        pytest.param(MADRID, "2026-10-23T14:00", 2, "2026-10-26T09:00", id="madrid-fall"),
    ],
)
def test_add_business_hours(calendar, start, hours, expected):
    assert add_business_hours(calendar, utc(start), hours) == utc(expected)


@pytest.mark.parametrize(
    ("calendar", "start", "days", "expected"),
    [
        # Monday 10:00 local: Tuesday, Wednesday and Thursday, due at Thursday's close.
        pytest.param(MEXICO, "2026-11-30T16:00", 3, "2026-12-03T23:00", id="same-week"),
        # Monday 18:00 local, after closing: Tuesday is the filing day.
        pytest.param(MEXICO, "2026-12-01T00:00", 3, "2026-12-04T23:00", id="after-close"),
        # Monday 07:00 local, before opening: Monday is still the filing day.
        pytest.param(MEXICO, "2026-11-30T13:00", 3, "2026-12-03T23:00", id="before-opening"),
        # Saturday: Monday is the filing day.
        pytest.param(MEXICO, "2026-11-28T18:00", 3, "2026-12-03T23:00", id="on-weekend"),
        # Tuesday 15 September: Wednesday is a holiday, so Thursday and Friday count.
        pytest.param(MEXICO, "2026-09-15T16:00", 2, "2026-09-18T23:00", id="holiday"),
        # Friday 30 January: Monday 2 February is a holiday, so Tuesday counts.
        pytest.param(MEXICO, "2026-01-30T16:00", 1, "2026-02-03T23:00", id="movable-holiday"),
        pytest.param(MEXICO, "2026-11-30T16:00", 0, "2026-11-30T23:00", id="zero-days"),
        # Wednesday 23 December: the 24th is closed and the 25th is Christmas.
        pytest.param(
            MEXICO_CLOSED_CHRISTMAS_EVE,
            "2026-12-23T16:00",
            1,
            "2026-12-28T23:00",
            id="closed-day",
        ),
        # Tuesday's last interval closes at 18:00 local.
        pytest.param(MEXICO_LUNCH, "2026-11-30T16:00", 1, "2026-12-02T00:00", id="lunch-close"),
        # Monday 14:30 local, during lunch: Monday is still the filing day.
        pytest.param(MEXICO_LUNCH, "2026-11-30T20:30", 1, "2026-12-02T00:00", id="during-lunch"),
        # Friday 27 March 10:00 CET: Monday 30 March closes at 17:00 CEST.
        pytest.param(MADRID, "2026-03-27T09:00", 1, "2026-03-30T15:00", id="dst"),
    ],
)
def test_add_business_days(calendar, start, days, expected):
    assert add_business_days(calendar, utc(start), days) == utc(expected)


def test_opening_follows_wall_clock_across_dst():
    before_spring = opening_intervals(NEW_YORK, date(2026, 3, 6))
    after_spring = opening_intervals(NEW_YORK, date(2026, 3, 9))
    before_fall = opening_intervals(NEW_YORK, date(2026, 10, 30))
    after_fall = opening_intervals(NEW_YORK, date(2026, 11, 2))

    assert before_spring == [(utc("2026-03-06T14:00"), utc("2026-03-06T22:00"))]
    assert after_spring == [(utc("2026-03-09T13:00"), utc("2026-03-09T21:00"))]
    assert before_fall == [(utc("2026-10-30T13:00"), utc("2026-10-30T21:00"))]
    assert after_fall == [(utc("2026-11-02T14:00"), utc("2026-11-02T22:00"))]


def test_dst_monday_lasts_eight_hours():
    spring_monday = business_seconds_between(
        NEW_YORK, utc("2026-03-09T04:00"), utc("2026-03-10T04:00")
    )
    fall_monday = business_seconds_between(
        NEW_YORK, utc("2026-11-02T05:00"), utc("2026-11-03T05:00")
    )

    assert spring_monday == 8 * 3600
    assert fall_monday == 8 * 3600


def test_dst_change_inside_hours_counts_elapsed():
    sunday_night_shift = BusinessCalendar.from_dict(
        {
            "timezone": "America/New_York",
            "country": "US",
            "working_hours": {"sun": [["00:00", "08:00"]]},
        }
    )

    # 00:00 EST to 08:00 EDT, and 00:00 EDT to 08:00 EST.
    assert opening_intervals(sunday_night_shift, date(2026, 3, 8)) == [
        (utc("2026-03-08T05:00"), utc("2026-03-08T12:00"))
    ]
    assert opening_intervals(sunday_night_shift, date(2026, 11, 1)) == [
        (utc("2026-11-01T04:00"), utc("2026-11-01T13:00"))
    ]


def test_pause_carries_remaining_business_seconds():
    # Filed Monday 10:00 local with 16 business hours: due Wednesday 10:00 local.
    due_at = add_business_hours(MEXICO, utc("2026-11-30T16:00"), 16)
    # Paused Monday 15:00 local: 2 hours Monday, 8 Tuesday and 1 Wednesday remain.
    remaining = business_seconds_between(MEXICO, utc("2026-11-30T21:00"), due_at)
    # Resumed Friday 16:00 local: 1 hour Friday, 8 Monday, 2 Tuesday.
    resumed_due_at = add_business_seconds(MEXICO, utc("2026-12-04T22:00"), remaining)

    assert due_at == utc("2026-12-02T16:00")
    assert remaining == 11 * 3600
    assert resumed_due_at == utc("2026-12-08T17:00")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Friday 16:00 local to Monday 10:00 local.
        pytest.param("2026-11-27T22:00", "2026-11-30T16:00", 2 * 3600, id="weekend"),
        # Paused after the due time: nothing remains.
        pytest.param("2026-12-02T17:00", "2026-12-02T16:00", 0, id="end-before-start"),
        pytest.param("2026-11-28T10:00", "2026-11-29T20:00", 0, id="within-weekend"),
        pytest.param("2026-11-30T16:00", "2026-11-30T16:00:01.900", 1, id="rounds-down"),
    ],
)
def test_business_seconds_between(start, end, expected):
    assert business_seconds_between(MEXICO, utc(start), utc(end)) == expected


QUIET_AT_LUNCH = BusinessCalendar.from_dict(
    {"timezone": "America/Mexico_City", "country": "MX", "quiet_hours": ["13:00", "15:00"]}
)
NO_QUIET_HOURS = BusinessCalendar.from_dict(
    {"timezone": "America/Mexico_City", "country": "MX", "quiet_hours": None}
)


@pytest.mark.parametrize(
    ("calendar", "moment", "expected"),
    [
        # Monday 20:00 local.
        pytest.param(MEXICO, "2026-12-01T02:00", "2026-12-01T02:00", id="evening"),
        # Exactly 21:00 local may still send.
        pytest.param(MEXICO, "2026-12-01T03:00", "2026-12-01T03:00", id="at-quiet-start"),
        # Monday 23:30 local waits for Tuesday 08:00 local.
        pytest.param(MEXICO, "2026-12-01T05:30", "2026-12-01T14:00", id="before-midnight"),
        # Tuesday 03:00 local.
        pytest.param(MEXICO, "2026-12-01T09:00", "2026-12-01T14:00", id="after-midnight"),
        pytest.param(MEXICO, "2026-12-01T14:00", "2026-12-01T14:00", id="at-quiet-end"),
        # Quiet from 13:00 to 15:00 local: 14:00 local waits an hour.
        pytest.param(QUIET_AT_LUNCH, "2026-12-01T20:00", "2026-12-01T21:00", id="same-day"),
        pytest.param(QUIET_AT_LUNCH, "2026-12-01T19:00", "2026-12-01T19:00", id="same-day-start"),
        pytest.param(NO_QUIET_HOURS, "2026-12-01T05:30", "2026-12-01T05:30", id="no-quiet-hours"),
        # Saturday 5 September 22:00 -04 in Santiago: clocks go to -03 at midnight.
        pytest.param(SANTIAGO, "2026-09-06T02:00", "2026-09-06T11:00", id="santiago-spring"),
        # Saturday 4 April 22:00 -03: at midnight clocks go back to 23:00 -04.
        pytest.param(SANTIAGO, "2026-04-05T01:00", "2026-04-05T12:00", id="santiago-fall"),
        # 23:30 on 4 April happens twice, first at -03, then at -04.
        pytest.param(SANTIAGO, "2026-04-05T02:30", "2026-04-05T12:00", id="first-23:30"),
        pytest.param(SANTIAGO, "2026-04-05T03:30", "2026-04-05T12:00", id="second-23:30"),
        # Sunday 8 March 01:30 EST waits for 08:00 EDT.
        pytest.param(NEW_YORK, "2026-03-08T06:30", "2026-03-08T12:00", id="new-york-spring"),
    ],
)
def test_next_send_time(calendar, moment, expected):
    assert next_send_time(calendar, utc(moment)) == utc(expected)


# Tuesday 8 December 09:00 local.
APPOINTMENT_AT = "2026-12-08T15:00"


@pytest.mark.parametrize(
    ("appointment_at", "hours_before", "now", "expected"),
    [
        # Monday 09:00 local.
        pytest.param(APPOINTMENT_AT, 24, "2026-12-04T12:00", "2026-12-07T15:00", id="daytime"),
        # Monday 21:00 local, the start of quiet hours, is still allowed.
        pytest.param(APPOINTMENT_AT, 12, "2026-12-04T12:00", "2026-12-08T03:00", id="at-start"),
        # Monday 23:00 local moves back to 21:00 local.
        pytest.param(APPOINTMENT_AT, 10, "2026-12-04T12:00", "2026-12-08T03:00", id="evening"),
        # Tuesday 07:00 local moves back to Monday 21:00 local, not forward to 08:00.
        pytest.param(APPOINTMENT_AT, 2, "2026-12-04T12:00", "2026-12-08T03:00", id="morning"),
        # Moved back to Monday 21:00 local, but it is already 22:00: Tuesday 08:00 local.
        pytest.param(APPOINTMENT_AT, 4, "2026-12-08T04:00", "2026-12-08T14:00", id="moved-past"),
        # 48 hours before is Monday 12:00 local, already past on Tuesday 10:00 local: send now.
        pytest.param("2026-12-09T18:00", 48, "2026-12-08T16:00", "2026-12-08T16:00", id="late"),
    ],
)
def test_reminder_time(appointment_at, hours_before, now, expected):
    reminder_at = reminder_time(MEXICO, utc(appointment_at), hours_before, now=utc(now))

    assert reminder_at == utc(expected)


@pytest.mark.parametrize(
    ("appointment_at", "hours_before", "now"),
    [
        # Appointment at 07:30 local and now Monday 22:00 local: the next send time is 08:00.
        pytest.param("2026-12-08T13:30", 1, "2026-12-08T04:00", id="quiet-until-appointment"),
        pytest.param("2026-12-07T18:00", 2, "2026-12-08T16:00", id="appointment-passed"),
        pytest.param(APPOINTMENT_AT, 0, "2026-12-04T12:00", id="zero-hours-before"),
    ],
)
def test_reminder_time_none_before_appointment(appointment_at, hours_before, now):
    assert reminder_time(MEXICO, utc(appointment_at), hours_before, now=utc(now)) is None


@pytest.mark.parametrize(
    ("moment", "now", "expected"),
    [
        pytest.param("2026-12-04T10:14:41.200", "2026-12-04T10:14:31", 11, id="rounds-up"),
        pytest.param("2026-12-04T10:14:41", "2026-12-04T10:14:31", 10, id="whole"),
        pytest.param("2026-12-04T10:14:41", "2026-12-04T10:14:41", 0, id="now"),
        pytest.param("2026-12-04T10:14:41", "2026-12-04T11:00:00", 0, id="passed"),
    ],
)
def test_seconds_until(moment, now, expected):
    assert seconds_until(utc(moment), utc(now)) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(utc("2026-12-04T10:14:41"), "2026-12-04T10:14:41Z", id="whole"),
        pytest.param(utc("2026-12-04T10:14:41.123"), "2026-12-04T10:14:42Z", id="rounds-up"),
        pytest.param(
            datetime.fromisoformat("2026-12-04T04:14:41-06:00"),
            "2026-12-04T10:14:41Z",
            id="offset",
        ),
    ],
)
def test_wait_timestamp(moment, expected):
    assert wait_timestamp(moment) == expected


def test_wait_timestamp_parses_in_moto():
    text = wait_timestamp(utc("2026-12-04T10:14:41.123"))

    assert Timestamp._from_timestamp_string(text) == datetime(2026, 12, 4, 10, 14, 42)
    assert Timestamp._from_timestamp_string("2026-12-04T10:14:42+00:00") is None


def test_local_date_and_working_days():
    # Saturday 5 December 03:00 UTC is still Friday evening in Mexico City.
    assert local_date(MEXICO, utc("2026-12-05T03:00")) == date(2026, 12, 4)
    assert is_working_day(MEXICO, date(2026, 9, 17))
    assert not is_working_day(MEXICO, date(2026, 9, 16))
    assert not is_working_day(MEXICO, date(2026, 12, 5))
    assert not is_working_day(MEXICO_CLOSED_CHRISTMAS_EVE, date(2026, 12, 24))
    assert is_working_day(MEXICO, date(2026, 12, 24))


def test_from_dict_defaults():
    calendar = BusinessCalendar.from_dict({"timezone": "America/Mexico_City", "country": "MX"})

    assert calendar.working_hours == DEFAULT_WORKING_HOURS
    assert calendar.working_hours[0] == (TimeRange(time(9), time(17)),)
    assert calendar.working_hours[5] == ()
    assert calendar.quiet_hours == DEFAULT_QUIET_HOURS == TimeRange(time(21), time(8))
    assert calendar.closed_days == frozenset()
    assert calendar.subdivision is None
    assert calendar.holiday_categories == ("public",)


def test_from_dict_reads_every_field():
    calendar = BusinessCalendar.from_dict(
        {
            "timezone": "Europe/Madrid",
            "country": "ES",
            "subdivision": "MD",
            "holiday_categories": ["public"],
            "working_hours": {"mon": [["08:00", "14:00"], ["16:00", "18:30"]]},
            "closed_days": ["2026-12-24", "2026-12-31"],
            "quiet_hours": ["22:00", "09:00"],
        }
    )

    assert calendar.working_hours[0] == (
        TimeRange(time(8), time(14)),
        TimeRange(time(16), time(18, 30)),
    )
    assert calendar.working_hours[1:] == ((),) * 6
    assert calendar.closed_days == {date(2026, 12, 24), date(2026, 12, 31)}
    assert calendar.quiet_hours == TimeRange(time(22), time(9))
    # Monday 2 November, the day after All Saints' Day, is a holiday in Madrid only.
    assert not is_working_day(calendar, date(2026, 11, 2))
    assert is_working_day(
        BusinessCalendar.from_dict({"timezone": "Europe/Madrid", "country": "ES"}),
        date(2026, 11, 2),
    )


def config_with(**fields):
    return {"timezone": "America/Mexico_City", "country": "MX", **fields}


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        pytest.param({"country": "MX"}, "timezone", "timezone: expected a non-empty", id="tz"),
        pytest.param(
            config_with(timezone="Mars/Olympus_Mons"),
            "timezone",
            "timezone: unknown time zone 'Mars/Olympus_Mons'; expected an IANA name",
            id="unknown-tz",
        ),
        pytest.param(
            config_with(country="XX"),
            "country",
            "country: unknown country code 'XX'; expected an upper-case ISO 3166-1",
            id="unknown-country",
        ),
        pytest.param(
            config_with(country="mx"), "country", "unknown country code 'mx'", id="lower-case"
        ),
        pytest.param(
            config_with(country="ES", subdivision="ZZ"),
            "subdivision",
            "subdivision: ES has no subdivision 'ZZ'",
            id="unknown-subdivision",
        ),
        pytest.param(
            config_with(holiday_categories=["government"]),
            "holiday_categories",
            "holiday_categories: government not supported for MX; expected some of public",
            id="unknown-category",
        ),
        pytest.param(
            config_with(working_hours={"mon": [["9:00", "17:00"]]}),
            "working_hours.mon[0][0]",
            "working_hours.mon[0][0]: invalid time '9:00'; expected 'HH:MM'",
            id="malformed-time",
        ),
        pytest.param(
            config_with(working_hours={"mon": [["09:00", "24:00"]]}),
            "working_hours.mon[0][1]",
            "invalid time '24:00'",
            id="hour-24",
        ),
        pytest.param(
            config_with(working_hours={"mon": [["17:00", "09:00"]]}),
            "working_hours.mon[0]",
            "working_hours.mon[0]: end 09:00 is not after start 17:00",
            id="end-before-start",
        ),
        pytest.param(
            config_with(working_hours={"tue": [["09:00", "14:00"], ["12:00", "13:00"]]}),
            "working_hours.tue[1]",
            "starts at 12:00, before the previous interval ends at 14:00",
            id="overlap",
        ),
        pytest.param(
            config_with(working_hours={"monday": [["09:00", "17:00"]]}),
            "working_hours.monday",
            "working_hours.monday: unknown weekday; expected one of mon, tue",
            id="unknown-weekday",
        ),
        pytest.param(
            config_with(working_hours={"mon": [["09:00"]]}),
            "working_hours.mon[0]",
            "working_hours.mon[0]: invalid interval",
            id="half-interval",
        ),
        pytest.param(
            config_with(working_hours={}),
            "working_hours",
            "working_hours: no weekday has opening hours",
            id="never-open",
        ),
        pytest.param(
            config_with(closed_days=["2026-02-30"]),
            "closed_days[0]",
            "closed_days[0]: invalid date '2026-02-30'; expected 'YYYY-MM-DD'",
            id="impossible-date",
        ),
        pytest.param(
            config_with(closed_days="2026-12-24"),
            "closed_days",
            "closed_days: expected a list of dates",
            id="closed-days-not-list",
        ),
        pytest.param(
            config_with(quiet_hours=["21:00", "21:00"]),
            "quiet_hours",
            "quiet_hours: start and end are both 21:00",
            id="empty-quiet-hours",
        ),
        pytest.param(
            config_with(quiet_hours=["21h", "08:00"]),
            "quiet_hours[0]",
            "quiet_hours[0]: invalid time '21h'",
            id="malformed-quiet-hours",
        ),
        pytest.param(
            config_with(working_hour={}),
            "working_hour",
            "working_hour: is not a known field",
            id="unknown-field",
        ),
    ],
)
def test_from_dict_rejects_invalid_config(config, field, message):
    with pytest.raises(InvalidCalendarError) as caught:
        BusinessCalendar.from_dict(config)

    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_from_dict_rejects_non_mapping():
    with pytest.raises(ValueError, match="calendar: expected an object, got list"):
        BusinessCalendar.from_dict([])


NAIVE = datetime(2026, 12, 4, 10, 0)
AWARE = utc("2026-12-04T10:00")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: add_business_hours(MEXICO, NAIVE, 1), id="add_business_hours"),
        pytest.param(lambda: add_business_days(MEXICO, NAIVE, 1), id="add_business_days"),
        pytest.param(lambda: add_business_seconds(MEXICO, NAIVE, 1), id="add_business_seconds"),
        pytest.param(lambda: business_seconds_between(MEXICO, AWARE, NAIVE), id="between"),
        pytest.param(lambda: next_send_time(MEXICO, NAIVE), id="next_send_time"),
        pytest.param(lambda: reminder_time(MEXICO, NAIVE, 1, now=AWARE), id="reminder"),
        pytest.param(lambda: reminder_time(MEXICO, AWARE, 1, now=NAIVE), id="reminder-now"),
        pytest.param(lambda: seconds_until(AWARE, NAIVE), id="seconds_until"),
        pytest.param(lambda: wait_timestamp(NAIVE), id="wait_timestamp"),
        pytest.param(lambda: local_date(MEXICO, NAIVE), id="local_date"),
    ],
)
def test_naive_datetime_rejected(call):
    with pytest.raises(ValueError, match="is naive; expected a timezone-aware datetime"):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: add_business_hours(MEXICO, AWARE, -1),
            "hours must be a non-negative number, got -1",
            id="negative-hours",
        ),
        pytest.param(
            lambda: add_business_days(MEXICO, AWARE, -1),
            "days must be a non-negative integer, got -1",
            id="negative-days",
        ),
        pytest.param(
            lambda: add_business_days(MEXICO, AWARE, 1.5),
            "days must be a non-negative integer, got 1.5",
            id="fractional-days",
        ),
        pytest.param(
            lambda: add_business_seconds(MEXICO, AWARE, float("nan")),
            "seconds must be a non-negative number, got nan",
            id="nan-seconds",
        ),
    ],
)
def test_invalid_duration_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_calendar_closed_for_a_year_raises():
    sundays = [date(2026, 12, 6) + timedelta(weeks=week) for week in range(60)]
    sundays_only = BusinessCalendar.from_dict(
        config_with(
            working_hours={"sun": [["09:00", "13:00"]]},
            closed_days=[sunday.isoformat() for sunday in sundays],
        )
    )

    with pytest.raises(ValueError, match="no opening hours in the 366 days after"):
        add_business_hours(sundays_only, AWARE, 1)
