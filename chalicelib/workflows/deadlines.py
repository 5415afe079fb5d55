"""Response deadlines of case types: due times, pauses and escalation steps.

An agency configures its case types in `Agency.case_types`; without any, DEFAULT_CASE_TYPES
apply. A type with a `response` period gets a deadline when a case takes that type:

    {"complaint": {
        "response": {"business_days": 5},
        "reminder_before": {"percent": 25},
        "head_after": {"business_hours": 16},
        "paused_check": {"seconds": 900},
        "label": {"es": "Queja", "en": "Complaint", "pt": "Reclamação"}}}

Periods take exactly one unit. `business_days` and `business_hours` run on the agency's
calendar (opening hours, public holidays of its country, closed days; see
chalicelib/workflows/calendar.py). `calendar_days`, `hours` and `seconds` run on the
wall clock, as legal "días naturales" do. `reminder_before` and `head_after` also take
`percent` of the response period, and use the response period's clock. A deadline has
three steps: the assigned agent is reminded `reminder_before` the due time, the case
escalates to the supervisor at the due time, and to the agency head `head_after` it.

While the case waits for the citizen the clock is paused: the time left until each
step still to come is stored, and a resume puts each step that much time after the
resume, on the same clock. This module computes; chalicelib/workflows/complaints.py
stores and runs the steps.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import isoformat_z, parse_utc
from chalicelib.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from chalicelib.workflows.calendar import BusinessCalendar

BUSINESS = "business"
WALL = "wall"
# Each unit of a period, with its clock and, for the wall clock, its length in seconds.
UNITS: dict[str, tuple[str, int | None]] = {
    "business_days": (BUSINESS, None),
    "business_hours": (BUSINESS, 3600),
    "calendar_days": (WALL, 86400),
    "hours": (WALL, 3600),
    "seconds": (WALL, 1),
}
PERCENT = "percent"

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"
FAILED = "failed"

# The steps of a deadline, in the order they come.
REMIND = "remind"
SUPERVISOR = "supervisor"
HEAD = "head"
# The escalation level each step leaves the case at.
LEVELS = {REMIND: 0, SUPERVISOR: 1, HEAD: 2}

# Fifteen minutes: how often a paused deadline's workflow checks for a reply from the
# citizen, so the clock restarts within that time of the reply (from the reply's time).
DEFAULT_PAUSED_CHECK_SECONDS = 900

COMPLAINT = "complaint"
REQUEST = "request"
APPOINTMENT = "appointment"
# Case types of an agency that configures none. The periods are defaults to override,
# not any country's legal terms.
DEFAULT_CASE_TYPES: dict[str, dict[str, Any]] = {
    COMPLAINT: {
        "response": {"business_days": 5},
        "reminder_before": {PERCENT: 25},
        "head_after": {"business_hours": 16},
        "label": {"es": "Queja", "en": "Complaint", "pt": "Reclamação"},
    },
    REQUEST: {
        "response": {"business_days": 10},
        "reminder_before": {PERCENT: 25},
        "head_after": {"business_hours": 24},
        "label": {"es": "Solicitud", "en": "Request", "pt": "Solicitação"},
    },
    APPOINTMENT: {"label": {"es": "Cita", "en": "Appointment", "pt": "Agendamento"}},
}


@dataclass(frozen=True)
class Period:
    """An amount of one unit of UNITS, or a percent of the response period."""

    unit: str
    amount: float

    @property
    def clock(self) -> str:
        return UNITS[self.unit][0]

    def describe(self) -> str:
        return f"{self.amount:g} {self.unit}"


@dataclass(frozen=True)
class DeadlinePolicy:
    """How long a case type has for its response, and when it reminds and escalates."""

    case_type: str
    response: Period
    reminder_before: Period
    head_after: Period
    paused_check_seconds: int

    @property
    def clock(self) -> str:
        return self.response.clock


@dataclass(frozen=True)
class Deadline:
    """A case's deadline as plain values; store.models.CaseDeadline is its stored form."""

    occurrence: int
    case_type: str
    policy: str
    clock: str
    status: str
    started_at: str
    remind_at: str
    due_at: str
    head_at: str
    escalation_level: int = 0
    reminded_at: str | None = None
    escalated_at: str | None = None
    paused_at: str | None = None
    remind_remaining: int | None = None
    due_remaining: int | None = None
    head_remaining: int | None = None
    stopped_at: str | None = None
    error: str | None = None
    entry_sk: str | None = None
    step_token: str | None = None
    revision: int = 1

    @property
    def clock_runs(self) -> bool:
        return self.status == RUNNING

    @property
    def live(self) -> bool:
        """True until the case is resolved, closed, cancelled or retyped."""
        return self.status in (RUNNING, PAUSED, FAILED)

    @property
    def listed(self) -> bool:
        """True while the case belongs in the supervisors' deadline report.

        A failed deadline stays listed, because nothing reminds or escalates it any more.
        """
        return self.status in (RUNNING, FAILED)

    def pending_steps(self) -> list[tuple[str, str]]:
        """Return the steps still to come as (step, UTC time), in order."""
        steps = []
        if self.reminded_at is None and self.escalation_level == 0:
            steps.append((REMIND, self.remind_at))
        if self.escalation_level < 1:
            steps.append((SUPERVISOR, self.due_at))
        if self.escalation_level < 2:
            steps.append((HEAD, self.head_at))
        return steps


@dataclass(frozen=True)
class Step:
    """The step of a deadline that is due now, or None, and when to check again."""

    step: str | None
    # None once every step is done.
    next_at: datetime | None


class DeadlineConfigError(ServiceUnavailableError):
    """An agency's case type settings that cannot be used; an administrator must fix them."""


def case_types(agency: AgencyConfig) -> dict[str, dict[str, Any]]:
    """Return the agency's case types by name, or DEFAULT_CASE_TYPES when it has none."""
    return agency.case_types or DEFAULT_CASE_TYPES


def calendar_of(agency: AgencyConfig) -> "BusinessCalendar":
    """Build the agency's business calendar from its time zone, country and calendar settings."""
    business = _business()
    config = {"timezone": agency.timezone, "country": agency.country, **agency.calendar}
    try:
        return business.BusinessCalendar.from_dict(config)
    except ValueError as error:
        raise DeadlineConfigError(
            f"agency {agency.agency_id!r} has an invalid calendar: {error}; "
            "an administrator must correct its settings"
        ) from error


def policy_for(agency: AgencyConfig, case_type: str) -> DeadlinePolicy | None:
    """Return the deadline policy of a case type, or None when it has no response period.

    Raises DeadlineConfigError when the type's settings are malformed.
    """
    settings = case_types(agency).get(case_type) or {}
    if not settings.get("response"):
        return None
    path = f"case_types.{case_type}"
    response = _period(settings["response"], f"{path}.response", allow_percent=False)
    reminder = _period(settings.get("reminder_before") or {PERCENT: 25}, f"{path}.reminder_before")
    head = _period(settings.get("head_after") or {PERCENT: 25}, f"{path}.head_after")
    for name, period in (("reminder_before", reminder), ("head_after", head)):
        if period.unit == "business_days":
            raise DeadlineConfigError(
                f"{path}.{name}: business_days is allowed only for response; "
                "use business_hours or percent"
            )
        if period.unit != PERCENT and period.clock != response.clock:
            raise DeadlineConfigError(
                f"{path}.{name}: {period.unit} runs on the {period.clock} clock but response "
                f"runs on the {response.clock} clock; use units of one clock or percent"
            )
    paused_check = settings.get("paused_check") or {"seconds": DEFAULT_PAUSED_CHECK_SECONDS}
    paused = _period(paused_check, f"{path}.paused_check", allow_percent=False)
    if paused.clock != WALL:
        raise DeadlineConfigError(f"{path}.paused_check: expected seconds, hours or calendar_days")
    return DeadlinePolicy(
        case_type=case_type,
        response=response,
        reminder_before=reminder,
        head_after=head,
        paused_check_seconds=max(1, int(paused.amount * UNITS[paused.unit][1])),
    )


def label_of(agency: AgencyConfig, case_type: str, language: str) -> str:
    """Return the case type's name in `language`, as the agency labels it."""
    labels = (case_types(agency).get(case_type) or {}).get("label") or {}
    return labels.get(language) or labels.get(agency.default_language) or case_type


def start(
    policy: DeadlinePolicy, calendar: "BusinessCalendar", now: datetime, occurrence: int
) -> Deadline:
    """Compute a new deadline of `policy` that starts at `now`."""
    clock = Clock(policy.clock, calendar)
    response = policy.response
    if response.unit == "business_days":
        due = _business().add_business_days(calendar, now, int(response.amount))
    else:
        due = clock.add(now, response.amount * UNITS[response.unit][1])
    total = clock.between(now, due)
    reminder = _seconds(policy.reminder_before, total)
    remind = clock.add(now, max(total - reminder, 0))
    head = clock.add(due, _seconds(policy.head_after, total))
    return Deadline(
        occurrence=occurrence,
        case_type=policy.case_type,
        policy=response.describe(),
        clock=policy.clock,
        status=RUNNING,
        started_at=isoformat_z(now),
        remind_at=isoformat_z(min(remind, due)),
        due_at=isoformat_z(due),
        head_at=isoformat_z(head),
    )


def pause(deadline: Deadline, calendar: "BusinessCalendar", now: datetime) -> Deadline:
    """Stop the clock at `now`, keeping the time left until each step still to come."""
    if deadline.status != RUNNING:
        return deadline
    clock = Clock(deadline.clock, calendar)
    remaining = {step: clock.between(now, parse_utc(at)) for step, at in deadline.pending_steps()}
    return replace(
        deadline,
        status=PAUSED,
        paused_at=isoformat_z(now),
        remind_remaining=remaining.get(REMIND),
        due_remaining=remaining.get(SUPERVISOR),
        head_remaining=remaining.get(HEAD),
        revision=deadline.revision + 1,
    )


def resume(deadline: Deadline, calendar: "BusinessCalendar", at: datetime) -> Deadline:
    """Restart a paused clock at `at`: each step still to come moves to `at` plus its time left.

    A step whose time had passed when the clock paused stays where it was, so it is due
    at once.
    """
    if deadline.status != PAUSED:
        return deadline
    clock = Clock(deadline.clock, calendar)

    def moved(current: str, remaining: int | None) -> str:
        if remaining is None or remaining <= 0:
            return current
        return isoformat_z(clock.add(at, remaining))

    return replace(
        deadline,
        status=RUNNING,
        remind_at=moved(deadline.remind_at, deadline.remind_remaining),
        due_at=moved(deadline.due_at, deadline.due_remaining),
        head_at=moved(deadline.head_at, deadline.head_remaining),
        paused_at=None,
        remind_remaining=None,
        due_remaining=None,
        head_remaining=None,
        revision=deadline.revision + 1,
    )


def stop(
    deadline: Deadline, now: datetime, status: str = STOPPED, error: str | None = None
) -> Deadline:
    """Stop a deadline for good, because the case was resolved, closed or retyped, or failed."""
    return replace(
        deadline,
        status=status,
        stopped_at=isoformat_z(now),
        error=error,
        revision=deadline.revision + 1,
    )


def next_step(deadline: Deadline, now: datetime) -> Step:
    """Return the step that is due at `now`, if any, and when to look again.

    Only one step is returned at a time; when more are overdue, the next one is due at
    once, so each step gets its own alert.
    """
    pending = [(step, parse_utc(at)) for step, at in deadline.pending_steps()]
    if not pending:
        return Step(step=None, next_at=None)
    step, at = pending[0]
    if at <= now:
        following = pending[1][1] if len(pending) > 1 else None
        return Step(step=step, next_at=max(following, now) if following else None)
    return Step(step=None, next_at=at)


def apply_step(deadline: Deadline, step: str, now: datetime, step_token: str) -> Deadline:
    """Record on the deadline that `step` happened at `now`."""
    stamp = isoformat_z(now)
    if step == REMIND:
        changes: dict[str, Any] = {"reminded_at": stamp}
    else:
        changes = {"escalation_level": LEVELS[step], "escalated_at": stamp}
    return replace(deadline, **changes, step_token=step_token, revision=deadline.revision + 1)


@dataclass(frozen=True)
class Clock:
    """Adds and measures time on the business calendar or on the wall clock."""

    kind: str
    calendar: "BusinessCalendar"

    def add(self, start: datetime, seconds: float) -> datetime:
        if self.kind == BUSINESS:
            return _business().add_business_seconds(self.calendar, start, seconds)
        return start + timedelta(seconds=seconds)

    def between(self, start: datetime, end: datetime) -> int:
        """Return the whole seconds from `start` to `end`, negative when `end` is earlier."""
        if end < start:
            return -self.between(end, start)
        if self.kind == BUSINESS:
            return _business().business_seconds_between(self.calendar, start, end)
        return int((end - start).total_seconds())


def _business():
    """Import the calendar module on first use, because the holidays package it loads
    adds about 0.1 s to the cold import of app.py (measured with `python -X importtime`)."""
    from chalicelib.workflows import calendar

    return calendar


def _seconds(period: Period, total: int) -> float:
    if period.unit == PERCENT:
        return total * period.amount / 100
    return period.amount * UNITS[period.unit][1]


def _period(value: Any, path: str, allow_percent: bool = True) -> Period:
    units = [*UNITS, *([PERCENT] if allow_percent else [])]
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in units:
        raise DeadlineConfigError(
            f"{path}: expected an object with one of {', '.join(units)}, such as "
            '{"business_days": 5}'
        )
    unit, amount = next(iter(value.items()))
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
        raise DeadlineConfigError(f"{path}.{unit}: expected a number of at least 0")
    if unit == "business_days" and amount != int(amount):
        raise DeadlineConfigError(f"{path}.{unit}: expected a whole number of days")
    if unit == PERCENT and amount > 100:
        raise DeadlineConfigError(f"{path}.{unit}: expected at most 100")
    return Period(unit=unit, amount=float(amount))
