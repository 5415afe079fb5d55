"""The deadline workflow of a case: stored deadline, notices, staff alerts and its tasks.

`infra/statemachines/complaint_deadline.asl.json` loops: it waits until
`$.check.next_check_at`, then runs the task `check_complaint_deadline`, which reads the
case and returns what to do now. Because every decision is taken from the stored
deadline at check time, a pause, a resume or a new due time never races with the
running execution: the execution only wakes up too early and waits again. The task
returns one of

    {"action": "wait", "next_check_at": "2026-12-11T17:00:00Z", "wait_seconds": 86400}
    {"action": "alert", "next_check_at": ... or null, "wait_seconds": ..., "continue": true,
     "alert": {"role": "agent", "agent_id": ..., "subject": ..., "message": ...}}
    {"action": "done"}

`wait_seconds` is the whole seconds from the check to `next_check_at`, rounded up,
which the Wait state takes.

and the state machine publishes each alert to the staff alerts topic with the message
attributes `agency` and `role` (`agent`, `supervisor` or `head`), plus `agent_id` when
the case is assigned, so each subscription filters what it receives.
"""

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.agencies import AgencyConfig, get_agency
from chalicelib.clock import parse_utc, utc_now
from chalicelib.journey.models import OPEN, OPEN_STATUSES, WAITING_CITIZEN
from chalicelib.journey.references import format_reference
from chalicelib.notify import sender
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CaseDeadline,
    CitizenProfile,
    DeadlineEntry,
    case_key,
    citizen_key,
    deadline_sort_key,
    deadlines_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import deadlines, engine
from chalicelib.workflows.deadlines import Deadline
from chalicelib.workflows.tasks import TaskFailedError, TaskRequest, task

KIND = engine.COMPLAINT_DEADLINE
CHECK_TASK = "check_complaint_deadline"
FAILURE_TASK = "record_complaint_deadline_failure"
# Attempts of one check when an agent's change lands between its read and its write.
MAX_ATTEMPTS = 3
# The role of each step's staff alert.
ALERT_ROLES = {
    deadlines.REMIND: "agent",
    deadlines.SUPERVISOR: "supervisor",
    deadlines.HEAD: "head",
}
# Timeline step names, as `Contact.workflow_step` shows them.
STEP_NAMES = {
    deadlines.REMIND: "agent_reminded",
    deadlines.SUPERVISOR: "escalated_to_supervisor",
    deadlines.HEAD: "escalated_to_head",
}

# Notices to the citizen, each at most 70 characters with its values filled in, so an
# SMS fits one segment even in UCS-2 (tests/unit/test_deadlines.py checks the worst
# case). An agency label longer than "Reclamação" can push the first one over.
NOTICES = {
    "due": {
        "es": "{label} {reference}: respuesta a más tardar el {due}.",
        "en": "{label} {reference}: we will reply by {due}.",
        "pt": "{label} {reference}: resposta até {due}.",
    },
    deadlines.SUPERVISOR: {
        "es": "Su caso {reference} pasó a un supervisor para atenderlo pronto.",
        "en": "Your case {reference} was escalated to a supervisor.",
        "pt": "Seu caso {reference} foi encaminhado a um supervisor.",
    },
    deadlines.HEAD: {
        "es": "Su caso {reference} pasó a la dirección para atenderlo pronto.",
        "en": "Your case {reference} was escalated to the agency head.",
        "pt": "Seu caso {reference} foi encaminhado à direção.",
    },
}
MONTHS = {
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "pt": ("jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"),
}


def from_stored(case: Case) -> Deadline | None:
    """Return the case's deadline as plain values, or None when it never had one."""
    if case.deadline is None:
        return None
    values = case.deadline.as_dict()
    fields = {name: values.get(name) for name in Deadline.__dataclass_fields__}
    for name in ("occurrence", "escalation_level", "revision"):
        fields[name] = int(fields[name] or 0)
    for name in ("remind_remaining", "due_remaining", "head_remaining"):
        if fields[name] is not None:
            fields[name] = int(fields[name])
    return Deadline(**fields)


def to_stored(deadline: Deadline) -> CaseDeadline:
    return CaseDeadline(
        **{key: value for key, value in asdict(deadline).items() if value is not None}
    )


def add_deadline_writes(
    transaction: Transaction, case: Case, old: Deadline | None, new: Deadline | None
) -> Deadline | None:
    """Add the writes of the case's `DeadlineEntry` that a deadline change needs.

    The entry exists while the deadline is listed (running, or failed), keyed by the due
    time, so the new deadline comes back with the sort key of its entry. The caller
    writes the deadline itself.
    """
    if new is None:
        return None
    entry_sk = deadline_sort_key(new.due_at, case.case_id) if new.listed else None
    if old is not None and old.entry_sk and old.entry_sk != entry_sk:
        transaction.delete(DeadlineEntry(deadlines_key(case.agency_id), old.entry_sk), "entry")
    if entry_sk is not None:
        transaction.put(
            DeadlineEntry(
                deadlines_key(case.agency_id),
                entry_sk,
                case_id=case.case_id,
                reference=case.reference,
                case_type=new.case_type,
                due_at=new.due_at,
                escalation_level=new.escalation_level,
                assigned_agent_id=case.assigned_agent_id,
                status=new.status,
            ),
            "entry",
        )
    return Deadline(**{**asdict(new), "entry_sk": entry_sk})


def deadline_condition(old: Deadline | None) -> Any:
    """Return the condition that the case's deadline is still the one read."""
    if old is None:
        return Case.deadline.does_not_exist()
    return Case.deadline.revision == old.revision


def start_workflow(case: Case, deadline: Deadline) -> engine.StartResult:
    """Start the deadline's workflow, whose first check is at the first step's time."""
    first = parse_utc(deadline.pending_steps()[0][1])
    check = {"action": "wait", **_next_check(first, utc_now())}
    return engine.start_workflow(KIND, case, str(deadline.occurrence), {"check": check})


def notify_due(agency: AgencyConfig, case: Case, deadline: Deadline) -> None:
    """Send the citizen the due time, in their language and on the agency's wall clock."""
    language = _language(agency, case)
    text = notice(
        "due",
        language,
        label=deadlines.label_of(agency, deadline.case_type, language),
        reference=format_reference(case.reference),
        due=format_due(parse_utc(deadline.due_at), agency.timezone, language, utc_now()),
    )
    sender.notify_case(agency, case, text, sender.CASE_UPDATE, kind="deadline")


def notice(key: str, language: str, **values: str) -> str:
    variants = NOTICES[key]
    return variants.get(language, variants["es"]).format(**values)


def format_due(moment: datetime, timezone: str, language: str, now: datetime) -> str:
    """Format a due time on the agency's wall clock, as `11 dic, 17:00`.

    The year is added when it is not the current one: `4 ene 2027, 09:00`.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    months = MONTHS.get(language, MONTHS["es"])
    year = "" if local.year == now.astimezone(local.tzinfo).year else f" {local.year}"
    return f"{local.day} {months[local.month - 1]}{year}, {local:%H:%M}"


def record_step(case: Case, deadline: Deadline, step: str, body: str, key: str = "") -> bool:
    """Put one step of a deadline on the timeline, once per deadline occurrence and `key`."""
    external_id = f"{deadline.occurrence}#{step}#{key}" if key else f"{deadline.occurrence}#{step}"
    return engine.record_step(case, KIND, step, external_id=external_id, body=body)


@task(CHECK_TASK)
def check_deadline(request: TaskRequest) -> dict:
    """Apply the deadline step that is due now, if any, and return when to check again."""
    case_id, occurrence = _case_of(request)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        case = _read_case(case_id)
        try:
            return _check(request, case, occurrence, utc_now())
        except TransactionConflictError:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.info("deadline check retried", extra={"case_id": case_id, "attempt": attempt})
    raise AssertionError("unreachable")


@task(FAILURE_TASK)
def record_failure(request: TaskRequest) -> dict:
    """Mark the case's deadline failed and return the supervisor's alert."""
    case_id, occurrence = _case_of(request)
    case = _read_case(case_id)
    error = str((request.input.get("error") or {}).get("Error") or "unknown")[:200]
    deadline = from_stored(case) if case is not None else None
    if case is None or deadline is None or deadline.occurrence != occurrence:
        return {"alert": _failure_alert(case_id, None, error)}
    mark_failed(case, deadline, error)
    return {"alert": _failure_alert(case_id, case, error)}


def mark_failed(case: Case, deadline: Deadline, error: str) -> None:
    """Store that a deadline's workflow failed with `error`, and put it on the timeline.

    The deadline stays in the supervisors' report, because nothing reminds or escalates
    it any more.
    """
    if deadline.status != deadlines.FAILED:
        failed = deadlines.stop(deadline, utc_now(), status=deadlines.FAILED, error=error)
        transaction = Transaction()
        failed = add_deadline_writes(transaction, case, deadline, failed)
        transaction.update(
            Case(case_key(case.case_id), "CASE"),
            [Case.deadline.set(to_stored(failed))],
            tag="case",
            condition=deadline_condition(deadline),
        )
        transaction.commit()
    record_step(case, deadline, "deadline_failed", f"Deadline workflow failed: {error}")
    logger.warning("deadline workflow failed", extra={"case_id": case.case_id, "error_code": error})


def _check(request: TaskRequest, case: Case | None, occurrence: int, now: datetime) -> dict:
    deadline = from_stored(case) if case is not None else None
    if deadline is None or deadline.occurrence != occurrence or case.status not in OPEN_STATUSES:
        return _done(case, occurrence)
    if deadline.status == deadlines.PAUSED:
        return _check_paused(request, case, deadline, now)
    if deadline.status != deadlines.RUNNING:
        return _done(case, occurrence)

    token = _digest(request.token)
    if deadline.step_token == token:
        # A retry of a check whose step was stored: repeat that step's outcome.
        step = _last_step(deadline)
        plan = deadlines.Step(step=step, next_at=_next_after(deadline))
        return _finish_step(case, deadline, plan, now)
    plan = deadlines.next_step(deadline, now)
    if plan.step is None:
        return _wait_until(plan.next_at, now)
    applied = deadlines.apply_step(deadline, plan.step, now, token)
    transaction = Transaction()
    applied = add_deadline_writes(transaction, case, deadline, applied)
    transaction.update(
        Case(case_key(case.case_id), "CASE"),
        [Case.deadline.set(to_stored(applied))],
        tag="case",
        condition=deadline_condition(deadline) & Case.status.is_in(*OPEN_STATUSES),
    )
    transaction.commit()
    return _finish_step(case, applied, plan, now)


def _check_paused(request: TaskRequest, case: Case, deadline: Deadline, now: datetime) -> dict:
    """Resume the clock if the citizen replied since the pause, else check again later."""
    from chalicelib.journey import lifecycle

    answered_at = case.citizen_answered_at
    if case.status == WAITING_CITIZEN and answered_at and answered_at >= deadline.paused_at:
        update = lifecycle.CaseUpdate(status=OPEN, effective_at=parse_utc(answered_at))
        lifecycle.change_case(case, update, lifecycle.CITIZEN)
        resumed = _read_case(case.case_id)
        return _check(request, resumed, deadline.occurrence, now)
    policy = deadlines.policy_for(get_agency(case.agency_id), deadline.case_type)
    seconds = policy.paused_check_seconds if policy else deadlines.DEFAULT_PAUSED_CHECK_SECONDS
    return _wait_until(now + timedelta(seconds=seconds), now)


def _finish_step(case: Case, deadline: Deadline, plan: deadlines.Step, now: datetime) -> dict:
    """Record a stored step on the timeline and tell the citizen of an escalation, once."""
    step = plan.step
    body = _step_body(step, deadline)
    if record_step(case, deadline, STEP_NAMES[step], body) and step != deadlines.REMIND:
        # NOTE: a task that stops between the timeline write and this send is retried
        # without sending, so the citizen may miss this one notice.
        agency = get_agency(case.agency_id)
        text = notice(step, _language(agency, case), reference=format_reference(case.reference))
        sender.notify_case(agency, case, text, sender.CASE_UPDATE, kind="deadline")
    logger.info(
        "deadline step applied",
        extra={"case_id": case.case_id, "step": step, "level": deadline.escalation_level},
    )
    if plan.next_at is None:
        engine.mark_ended(case.case_id, KIND, str(deadline.occurrence))
    following = _next_check(plan.next_at, now) if plan.next_at else {"next_check_at": None}
    return {
        "action": "alert",
        **following,
        "continue": plan.next_at is not None,
        "alert": _alert(case, deadline, step),
    }


def _alert(case: Case, deadline: Deadline, step: str) -> dict:
    reference = format_reference(case.reference)
    subjects = {
        deadlines.REMIND: f"Case {reference} is due {deadline.due_at}",
        deadlines.SUPERVISOR: f"Case {reference} passed its due time",
        deadlines.HEAD: f"Case {reference} escalated to the agency head",
    }
    message = (
        f"{subjects[step]}. Case type {deadline.case_type}, due {deadline.due_at}, "
        f"escalation level {deadline.escalation_level}, case id {case.case_id}."
    )
    return {
        "role": ALERT_ROLES[step],
        "agent_id": case.assigned_agent_id or "unassigned",
        "subject": subjects[step],
        "message": message,
    }


def _failure_alert(case_id: str, case: Case | None, error: str) -> dict:
    reference = format_reference(case.reference) if case is not None else case_id
    subject = f"Deadline workflow of case {reference} failed"
    return {
        "role": "supervisor",
        "agent_id": (case.assigned_agent_id if case is not None else None) or "unassigned",
        "subject": subject,
        "message": f"{subject} ({error}); its reminders and escalations stopped. "
        f"Case id {case_id}.",
    }


def _step_body(step: str, deadline: Deadline) -> str:
    if step == deadlines.REMIND:
        return f"Assigned agent reminded; due {deadline.due_at}"
    if step == deadlines.SUPERVISOR:
        return f"Due time {deadline.due_at} passed; escalated to the supervisor"
    return f"Escalated to the agency head; due time was {deadline.due_at}"


def _last_step(deadline: Deadline) -> str:
    if deadline.escalation_level >= 2:
        return deadlines.HEAD
    if deadline.escalation_level == 1:
        return deadlines.SUPERVISOR
    return deadlines.REMIND


def _next_after(deadline: Deadline) -> datetime | None:
    pending = deadline.pending_steps()
    return parse_utc(pending[0][1]) if pending else None


def _wait_until(moment: datetime, now: datetime) -> dict:
    return {"action": "wait", **_next_check(moment, now)}


def _next_check(moment: datetime, now: datetime) -> dict:
    business = deadlines._business()
    return {
        "next_check_at": business.wait_timestamp(moment),
        "wait_seconds": business.seconds_until(moment, now),
    }


def _done(case: Case | None, occurrence: int) -> dict:
    if case is not None:
        engine.mark_ended(case.case_id, KIND, str(occurrence))
    return {"action": "done"}


def _case_of(request: TaskRequest) -> tuple[str, int]:
    case_id = request.input.get("case_id")
    occurrence = request.input.get("occurrence")
    if not isinstance(case_id, str) or not str(occurrence or "").isdigit():
        raise TaskFailedError("InvalidInput", "the task input is missing case_id or occurrence")
    return case_id, int(occurrence)


def _read_case(case_id: str) -> Case | None:
    try:
        return Case.get(case_key(case_id), "CASE", consistent_read=True)
    except Case.DoesNotExist:
        return None


def _language(agency: AgencyConfig, case: Case) -> str:
    try:
        profile = CitizenProfile.get(citizen_key(case.citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return agency.default_language
    return agency.language_for(profile.language)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]
