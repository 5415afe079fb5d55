"""Deadline policies, due times, pauses and steps, on the business calendar and the wall clock."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.agencies import AgencyConfig
from chalicelib.notify.segments import fits_one_segment
from chalicelib.workflows import complaints, deadlines
from chalicelib.workflows.deadlines import DeadlineConfigError

# Friday 4 December 2026, 10:00 in Mexico City (UTC-6), inside the default 09:00-17:00.
FRIDAY_10 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def _agency(**case_types) -> AgencyConfig:
    return AgencyConfig(
        agency_id="demo",
        name="Demo",
        country="MX",
        timezone="America/Mexico_City",
        default_language="es",
        languages=frozenset({"es", "en", "pt"}),
        active_case_days=7,
        chat_enabled=True,
        case_types=case_types,
    )


def _start(agency: AgencyConfig, case_type: str = "complaint", now: datetime = FRIDAY_10):
    policy = deadlines.policy_for(agency, case_type)
    return deadlines.start(policy, deadlines.calendar_of(agency), now, 1)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_deadline_default_complaint_is_five_business_days():
    deadline = _start(_agency())

    # Filed on Friday, so Friday is the filing day and the fifth working day after it is
    # the next Friday, closing at 17:00 local time.
    assert deadline.due_at == "2026-12-11T23:00:00.000Z"
    assert deadline.clock == deadlines.BUSINESS
    assert deadline.policy == "5 business_days"
    assert deadline.status == deadlines.RUNNING


def test_deadline_reminder_is_quarter_of_business_time():
    deadline = _start(_agency())

    # 5 days and 7 hours of business time is 47 hours; a quarter is 11 h 45 min before
    # Friday's 17:00 close: Thursday 13:15 local.
    assert deadline.remind_at == "2026-12-10T19:15:00.000Z"


def test_deadline_head_after_skips_the_weekend():
    deadline = _start(_agency())

    # 16 business hours after Friday's close: Monday and Tuesday, closing Tuesday 17:00.
    assert deadline.head_at == "2026-12-15T23:00:00.000Z"


def test_deadline_pause_and_resume_carry_business_time():
    agency = _agency()
    calendar = deadlines.calendar_of(agency)
    deadline = _start(agency)

    paused = deadlines.pause(deadline, calendar, datetime(2026, 12, 7, 16, 0, tzinfo=UTC))
    resumed = deadlines.resume(paused, calendar, datetime(2026, 12, 9, 16, 0, tzinfo=UTC))

    assert paused.status == deadlines.PAUSED
    assert paused.due_remaining == 39 * 3600
    # Paused Monday 10:00 and resumed Wednesday 10:00: every step moves two working days.
    assert resumed.status == deadlines.RUNNING
    assert resumed.due_at == "2026-12-15T23:00:00.000Z"
    assert resumed.remind_at == "2026-12-14T19:15:00.000Z"
    assert resumed.head_at == "2026-12-17T23:00:00.000Z"
    assert resumed.revision == deadline.revision + 2


def test_deadline_resume_keeps_steps_already_due():
    agency = _agency(
        complaint={
            "response": {"hours": 2},
            "reminder_before": {"hours": 1},
            "head_after": {"hours": 2},
        }
    )
    calendar = deadlines.calendar_of(agency)
    deadline = _start(agency)

    paused = deadlines.pause(deadline, calendar, FRIDAY_10 + timedelta(hours=3))
    resumed = deadlines.resume(paused, calendar, FRIDAY_10 + timedelta(hours=5))

    assert paused.due_remaining == -3600
    assert resumed.due_at == deadline.due_at
    # The head step was an hour away when the clock paused, and is an hour after the resume.
    assert _utc(resumed.head_at) == FRIDAY_10 + timedelta(hours=6)


def test_deadline_wall_clock_ignores_calendar():
    agency = _agency(complaint={"response": {"calendar_days": 30}})

    deadline = _start(agency)

    assert _utc(deadline.due_at) == FRIDAY_10 + timedelta(days=30)
    assert deadline.clock == deadlines.WALL


def test_deadline_steps_come_one_at_a_time():
    agency = _agency(
        complaint={
            "response": {"seconds": 10},
            "reminder_before": {"seconds": 4},
            "head_after": {"seconds": 5},
        }
    )
    deadline = _start(agency)

    early = deadlines.next_step(deadline, FRIDAY_10 + timedelta(seconds=1))
    late = deadlines.next_step(deadline, FRIDAY_10 + timedelta(seconds=30))
    reminded = deadlines.apply_step(deadline, late.step, FRIDAY_10, "token")
    escalated = deadlines.apply_step(reminded, deadlines.SUPERVISOR, FRIDAY_10, "token")
    last = deadlines.next_step(escalated, FRIDAY_10 + timedelta(seconds=30))
    finished = deadlines.apply_step(escalated, deadlines.HEAD, FRIDAY_10, "token")

    assert early.step is None
    assert early.next_at == FRIDAY_10 + timedelta(seconds=6)
    assert late.step == deadlines.REMIND
    assert late.next_at == FRIDAY_10 + timedelta(seconds=30)
    assert deadlines.next_step(reminded, FRIDAY_10).next_at == FRIDAY_10 + timedelta(seconds=10)
    assert last.step == deadlines.HEAD
    assert last.next_at is None
    assert finished.escalation_level == 2
    assert deadlines.next_step(finished, FRIDAY_10 + timedelta(days=1)).step is None


def test_deadline_type_without_response_has_none():
    assert deadlines.policy_for(_agency(), "appointment") is None
    assert deadlines.policy_for(_agency(), "unknown") is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"response": {"weeks": 1}}, "case_types.complaint.response: expected an object"),
        ({"response": {"business_days": 1.5}}, "expected a whole number of days"),
        ({"response": {"business_days": -1}}, "expected a number of at least 0"),
        (
            {"response": {"business_days": 5}, "reminder_before": {"hours": 2}},
            "runs on the wall clock but response runs on the business clock",
        ),
        (
            {"response": {"hours": 5}, "head_after": {"business_days": 1}},
            "business_days is allowed only for response",
        ),
        ({"response": {"hours": 5}, "reminder_before": {"percent": 150}}, "expected at most 100"),
        (
            {"response": {"hours": 5}, "paused_check": {"business_hours": 1}},
            "paused_check: expected seconds",
        ),
    ],
)
def test_deadline_policy_rejects_invalid_settings(settings, message):
    with pytest.raises(DeadlineConfigError, match=message):
        deadlines.policy_for(_agency(complaint=settings), "complaint")


def test_deadline_invalid_calendar_is_config_error():
    agency = replace(_agency(), calendar={"working_hours": {"mon": [["18:00", "09:00"]]}})

    with pytest.raises(DeadlineConfigError, match="invalid calendar"):
        deadlines.calendar_of(agency)


def test_deadline_format_due_uses_agency_time_and_language():
    due = datetime(2026, 12, 11, 23, 0, tzinfo=UTC)

    assert complaints.format_due(due, "America/Mexico_City", "es", FRIDAY_10) == "11 dic, 17:00"
    assert complaints.format_due(due, "America/Sao_Paulo", "pt", FRIDAY_10) == "11 dez, 20:00"
    next_year = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
    assert complaints.format_due(next_year, "America/Mexico_City", "en", FRIDAY_10) == (
        "4 Jan 2027, 09:00"
    )


@pytest.mark.parametrize("language", ["es", "en", "pt"])
@pytest.mark.parametrize("case_type", ["complaint", "request"])
def test_deadline_notices_fit_one_sms_segment(language, case_type):
    agency = _agency()
    due = complaints.format_due(
        datetime(2027, 12, 30, 23, 59, tzinfo=UTC), "America/Mexico_City", language, FRIDAY_10
    )
    label = deadlines.label_of(agency, case_type, language)
    texts = [
        complaints.notice("due", language, label=label, reference="482-193-057", due=due),
        complaints.notice(deadlines.SUPERVISOR, language, reference="482-193-057"),
        complaints.notice(deadlines.HEAD, language, reference="482-193-057"),
    ]

    for text in texts:
        assert fits_one_segment(text), text


def test_deadline_stored_form_round_trips():
    deadline = _start(_agency())
    paused = deadlines.pause(deadline, deadlines.calendar_of(_agency()), FRIDAY_10)

    class _Case:
        pass

    case = _Case()
    case.deadline = complaints.to_stored(paused)

    assert complaints.from_stored(case) == paused
