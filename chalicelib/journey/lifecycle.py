"""Change a case's status, type and assignee, with what each change sets in motion.

Statuses and the changes allowed between them:

    open            → waiting_citizen, resolved, closed, cancelled
    waiting_citizen → open, resolved, closed, cancelled
    resolved        → open (reopened), closed
    closed          → open (reopened)
    cancelled       → none

A case type with a response deadline (chalicelib/workflows/deadlines.py) starts one
when the case takes that type, or when a case of that type is reopened. The deadline
clock pauses while the case is waiting_citizen and resumes when it is open again.
Resolving the case or giving it another type stops the deadline and its workflow.
Closing or cancelling it stops every workflow of the case.

Each change is one TransactWriteItems holding the case, the citizen's copy of its
status, the deadline index entry and a timeline contact of kind "case_change". It is
conditional on the case's `version` and status as read, and on its deadline's revision.
A person's change also names the version it read, and a different stored version
raises ConflictError (HTTP 409).

Other modules react to status changes by registering a function with
`on_status_change`, such as the satisfaction survey that starts when a case is
resolved. Each function gets a StatusChange after the change is committed.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from botocore.exceptions import ClientError

from chalicelib.agencies import AgencyConfig, get_agency
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ConflictError, ValidationError, VentanillaError
from chalicelib.journey.models import CLOSED, OPEN, OPEN_STATUSES, RESOLVED, WAITING_CITIZEN
from chalicelib.journey.records import new_contact, new_id
from chalicelib.observability import logger
from chalicelib.store.models import Case, CitizenCase, case_key, citizen_key, queue_key
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import complaints, deadlines, engine
from chalicelib.workflows.deadlines import Deadline

CANCELLED = "cancelled"
STATUSES = (OPEN, WAITING_CITIZEN, RESOLVED, CLOSED, CANCELLED)
TRANSITIONS = {
    OPEN: {WAITING_CITIZEN, RESOLVED, CLOSED, CANCELLED},
    WAITING_CITIZEN: {OPEN, RESOLVED, CLOSED, CANCELLED},
    RESOLVED: {OPEN, CLOSED},
    CLOSED: {OPEN},
    CANCELLED: set(),
}
# Statuses that stop every workflow of the case, except those closing leaves running.
FINAL_STATUSES = frozenset({CLOSED, CANCELLED})
SURVIVE_CLOSING = set(engine.KINDS) - {engine.SATISFACTION_SURVEY}
# Attempts of one change when a concurrent write, such as a citizen's message or a
# deadline step, changed the case but not its version.
MAX_ATTEMPTS = 3
CASE_TAG = "case"
UNSET = object()
# First words that file the case a message opens as a complaint, compared in lower case
# without accents: "Queja: ...", "RECLAMO ...", "Reclamação ...".
COMPLAINT_KEYWORDS = frozenset(
    {"queja", "reclamo", "reclamacion", "complaint", "queixa", "reclamacao"}
)
_FIRST_WORD = re.compile(r"^\W*(\w+)")


@dataclass(frozen=True)
class Actor:
    """The person or process that changes a case.

    `kind` is "agent", "citizen" or "workflow", and `id` is an agent's token `sub`.
    """

    kind: str
    id: str | None = None


CITIZEN = Actor("citizen")
WORKFLOW = Actor("workflow")


@dataclass(frozen=True)
class CaseUpdate:
    """The fields to change; None (UNSET for the assignee) leaves a field as it is."""

    status: str | None = None
    case_type: str | None = None
    # An agent's sub, or None to unassign.
    assigned_agent_id: object = UNSET
    # When the change took effect, if earlier than now. A citizen's reply restarts the
    # deadline clock from the time of the message, not from when the workflow saw it.
    effective_at: datetime | None = None


@dataclass(frozen=True)
class StatusChange:
    """A committed status change, as the functions registered with on_status_change get it."""

    # The case as stored after the change.
    case: Case
    old_status: str
    new_status: str
    actor: Actor
    changed_at: str


@dataclass(frozen=True)
class ChangeResult:
    case: Case
    # The names of the fields that changed, empty when the update changed nothing.
    changed: tuple[str, ...]


StatusListener = Callable[[StatusChange], None]
_listeners: list[StatusListener] = []


def on_status_change(listener: StatusListener) -> StatusListener:
    """Register `listener` to run after every committed status change; usable as a decorator.

    Listeners run in registration order, in the request or task that made the change.
    One that raises is logged and does not undo the change or stop the others.
    """
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


@dataclass
class _Plan:
    old_deadline: Deadline | None
    new_deadline: Deadline | None
    changed: dict[str, tuple[object, object]]
    # True when this change started a new deadline.
    started: bool = False
    # True when the old deadline stopped or was replaced, so its workflow must stop.
    stop_deadline_workflow: bool = False


def change_case(
    case: Case,
    update: CaseUpdate,
    actor: Actor,
    expected_version: int | None = None,
) -> ChangeResult:
    """Apply `update` to a case read by the caller, and what it sets in motion.

    Raises ConflictError when `expected_version` is not the stored version, or the
    status cannot change to the one requested, and ValidationError for an unknown
    status or case type. DeadlineConfigError (HTTP 503) means that the agency's
    case type settings are invalid.
    """
    agency = get_agency(case.agency_id)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if expected_version is not None and int(case.version or 1) != expected_version:
            raise ConflictError(
                f"case changed since version {expected_version} was read (now version "
                f"{int(case.version or 1)}); read it again and repeat the change",
                field="version",
            )
        now = utc_now()
        plan = _plan(agency, case, update, now)
        if not plan.changed:
            return ChangeResult(case=case, changed=())
        try:
            _commit(case, plan, actor, now)
            break
        except TransactionConflictError as error:
            if attempt == MAX_ATTEMPTS or CASE_TAG not in error.tags:
                raise
            logger.info("case change retried", extra={"case_id": case.case_id, "attempt": attempt})
            case = Case.get(case_key(case.case_id), "CASE", consistent_read=True)
    changed_case = Case.get(case_key(case.case_id), "CASE", consistent_read=True)
    changed_case = _after_commit(agency, changed_case, plan, actor, now)
    return ChangeResult(case=changed_case, changed=tuple(plan.changed))


def starts_with_complaint_keyword(text: str) -> bool:
    """Return whether a message's first word is one of COMPLAINT_KEYWORDS."""
    match = _FIRST_WORD.match(text or "")
    if match is None:
        return False
    folded = unicodedata.normalize("NFKD", match[1].casefold())
    return "".join(char for char in folded if not unicodedata.combining(char)) in COMPLAINT_KEYWORDS


def file_complaint_from_message(agency: AgencyConfig, case_id: str) -> bool:
    """Give a case that a citizen's message just opened the type complaint; return whether it did.

    Nothing changes when the agency has no complaint type. An error of the agency's
    settings is logged rather than raised, because the message is recorded and a
    redelivery would be a duplicate that files nothing.
    """
    if deadlines.COMPLAINT not in deadlines.case_types(agency):
        return False
    case = Case.get(case_key(case_id), "CASE", consistent_read=True)
    try:
        change_case(case, CaseUpdate(case_type=deadlines.COMPLAINT), CITIZEN)
    except VentanillaError as error:
        logger.warning(
            "complaint not filed from message",
            extra={"case_id": case_id, "error_code": error.code},
        )
        return False
    return True


def case_reopened(agency: AgencyConfig, case_id: str, old_status: str) -> None:
    """Run what a reopening sets in motion, for a case the journey service already reopened.

    A citizen who quotes the reference of a resolved or closed case reopens it in the
    transaction that records the message. This starts the case type's next deadline and
    runs the status change listeners, as an agent's reopening does.
    """
    case = Case.get(case_key(case_id), "CASE", consistent_read=True)
    if case.status != OPEN:
        return
    now = utc_now()
    old = complaints.from_stored(case)
    plan = _Plan(old_deadline=old, new_deadline=old, changed={"status": (old_status, OPEN)})
    _plan_deadline(agency, plan, (old_status, case.case_type), OPEN, case.case_type, now, now)
    try:
        _commit(case, plan, CITIZEN, now)
    except TransactionConflictError:
        # An agent changed the case meanwhile, and that change ran its own effects.
        logger.info("reopened case changed meanwhile", extra={"case_id": case_id})
        return
    changed = Case.get(case_key(case_id), "CASE", consistent_read=True)
    _after_commit(agency, changed, plan, CITIZEN, now)


def _plan(agency: AgencyConfig, case: Case, update: CaseUpdate, now: datetime) -> _Plan:
    changed: dict[str, tuple[object, object]] = {}
    status = case.status
    if update.status is not None and update.status != case.status:
        _check_transition(case.status, update.status)
        status = update.status
        changed["status"] = (case.status, status)
    case_type = case.case_type
    if update.case_type is not None and update.case_type != case.case_type:
        if update.case_type not in deadlines.case_types(agency):
            known = ", ".join(sorted(deadlines.case_types(agency)))
            raise ValidationError(
                f"case_type: {update.case_type!r} is not a case type of this agency; "
                f"expected one of {known}",
                field="case_type",
            )
        case_type = update.case_type
        changed["case_type"] = (case.case_type, case_type)
    if update.assigned_agent_id is not UNSET and update.assigned_agent_id != case.assigned_agent_id:
        changed["assigned_agent_id"] = (case.assigned_agent_id, update.assigned_agent_id)

    old = complaints.from_stored(case)
    plan = _Plan(old_deadline=old, new_deadline=old, changed=changed)
    if "status" in changed or "case_type" in changed:
        before = (case.status, case.case_type)
        _plan_deadline(agency, plan, before, status, case_type, update.effective_at or now, now)
    return plan


def _check_transition(old: str, new: str) -> None:
    if new not in STATUSES:
        raise ValidationError(
            f"status: {new!r} is not a status; expected one of {', '.join(STATUSES)}",
            field="status",
        )
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none"
        raise ConflictError(
            f"status: a case that is {old} cannot become {new}; allowed: {allowed}",
            field="status",
        )


def _plan_deadline(
    agency: AgencyConfig,
    plan: _Plan,
    before: tuple[str, str | None],
    status: str,
    case_type: str | None,
    effective_at: datetime,
    now: datetime,
) -> None:
    """Decide what the change from `before` (status, case type) does to the deadline."""
    old = plan.old_deadline
    live = old is not None and old.live
    reopened = before[0] not in OPEN_STATUSES and status in OPEN_STATUSES
    retyped = case_type != before[1]
    calendar = None
    if live and (retyped or status not in OPEN_STATUSES):
        plan.new_deadline = deadlines.stop(old, now)
        plan.stop_deadline_workflow = True
    elif live and status == WAITING_CITIZEN:
        calendar = deadlines.calendar_of(agency)
        plan.new_deadline = deadlines.pause(old, calendar, now)
    elif live and status == OPEN:
        calendar = deadlines.calendar_of(agency)
        plan.new_deadline = deadlines.resume(old, calendar, effective_at)

    restart = retyped or reopened
    policy = deadlines.policy_for(agency, case_type) if case_type and restart else None
    if policy is None or status not in OPEN_STATUSES:
        return
    calendar = calendar or deadlines.calendar_of(agency)
    occurrence = (old.occurrence if old else 0) + 1
    started = deadlines.start(policy, calendar, now, occurrence)
    if old is not None:
        # Revisions keep growing, so a writer that read the old deadline fails its condition.
        started = replace(started, revision=old.revision + 1)
    if status == WAITING_CITIZEN:
        started = deadlines.pause(started, calendar, now)
    plan.new_deadline = started
    plan.started = True
    plan.stop_deadline_workflow = plan.stop_deadline_workflow or live


def _commit(case: Case, plan: _Plan, actor: Actor, now: datetime) -> None:
    transaction = Transaction()
    actions = [Case.version.add(1)]
    status_change = plan.changed.get("status")
    if status_change is not None:
        new_status = status_change[1]
        actions += [
            Case.status.set(new_status),
            Case.gsi1pk.set(queue_key(case.agency_id, new_status)),
        ]
        if new_status == WAITING_CITIZEN:
            actions.append(Case.citizen_answered_at.remove())
        if new_status == RESOLVED:
            # Numbers the satisfaction survey of this resolution: one survey each.
            actions.append(Case.resolution_count.add(1))
        transaction.update(
            CitizenCase(citizen_key(case.citizen_id), case_key(case.case_id)),
            [CitizenCase.status.set(new_status)],
            tag="citizen case",
        )
    if "case_type" in plan.changed:
        actions.append(Case.case_type.set(plan.changed["case_type"][1]))
    if "assigned_agent_id" in plan.changed:
        assignee = plan.changed["assigned_agent_id"][1]
        actions.append(
            Case.assigned_agent_id.set(assignee) if assignee else Case.assigned_agent_id.remove()
        )
        case.assigned_agent_id = assignee
    if plan.new_deadline is not plan.old_deadline:
        plan.new_deadline = complaints.add_deadline_writes(
            transaction, case, plan.old_deadline, plan.new_deadline
        )
        actions.append(Case.deadline.set(complaints.to_stored(plan.new_deadline)))
    elif "assigned_agent_id" in plan.changed and plan.old_deadline and plan.old_deadline.entry_sk:
        # The index entry shows the assignee, so it is written again with the new one.
        complaints.add_deadline_writes(transaction, case, plan.old_deadline, plan.old_deadline)

    condition = (
        (Case.version == int(case.version or 1))
        & (Case.status == case.status)
        & complaints.deadline_condition(plan.old_deadline)
    )
    transaction.update(
        Case(case_key(case.case_id), "CASE"), actions, tag=CASE_TAG, condition=condition
    )
    transaction.put_new(_change_contact(case, plan, actor, now), tag="contact")
    transaction.commit()


def _change_contact(case: Case, plan: _Plan, actor: Actor, now: datetime):
    """Build the timeline contact of a change: each field with its old and new value."""
    parts = [
        f"{name}: {old or 'none'} → {new or 'none'}" for name, (old, new) in plan.changed.items()
    ]
    if plan.new_deadline is not None and plan.new_deadline is not plan.old_deadline:
        parts.append(f"deadline {plan.new_deadline.status}, due {plan.new_deadline.due_at}")
    return new_contact(
        contact_id=new_id(),
        citizen_id=case.citizen_id,
        agency_id=case.agency_id,
        channel=actor.kind,
        direction="internal",
        kind="case_change",
        occurred_at=now,
        now=now,
        body="; ".join(parts),
        case_id=case.case_id,
        case_reference=case.reference,
        agent_id=actor.id if actor.kind == "agent" else None,
    )


def _after_commit(
    agency: AgencyConfig, case: Case, plan: _Plan, actor: Actor, now: datetime
) -> Case:
    """Stop and start workflows, tell the citizen a new due time and run the listeners.

    Returns the case as stored afterwards: read again when a failed start changed it.
    """
    status_change = plan.changed.get("status")
    new_status = status_change[1] if status_change else case.status
    reason = f"case {new_status}" if status_change else "case type changed"
    if new_status == CLOSED:
        # Closing is the archive step after a resolution, so a satisfaction survey
        # keeps its answer window; cancelling stops it with everything else.
        engine.stop_workflows(case, reason, kinds=SURVIVE_CLOSING)
    elif new_status in FINAL_STATUSES:
        engine.stop_workflows(case, reason)
    elif plan.stop_deadline_workflow:
        engine.stop_workflows(case, reason, kinds={complaints.KIND})

    deadline = plan.new_deadline
    old = plan.old_deadline
    if plan.stop_deadline_workflow:
        complaints.record_step(case, old, "deadline_stopped", f"Deadline stopped: {reason}")
    if plan.started and not _start_deadline_workflow(case, deadline):
        case = Case.get(case_key(case.case_id), "CASE", consistent_read=True)
    elif plan.started:
        complaints.record_step(case, deadline, "deadline_started", f"Due {deadline.due_at}")
        if deadline.status == deadlines.RUNNING:
            complaints.notify_due(agency, case, deadline)
    elif old is not None and deadline is not old and deadline.status == deadlines.PAUSED:
        body = f"Deadline paused at {deadline.paused_at}; case waits for the citizen"
        complaints.record_step(case, deadline, "deadline_paused", body, key=str(deadline.revision))
    elif old is not None and deadline is not old and deadline.status == deadlines.RUNNING:
        body = f"Deadline resumed; due {deadline.due_at}"
        complaints.record_step(case, deadline, "deadline_resumed", body, key=str(deadline.revision))
        complaints.notify_due(agency, case, deadline)

    logger.info(
        "case changed",
        extra={"case_id": case.case_id, "changed": sorted(plan.changed), "actor": actor.kind},
    )
    if status_change is not None:
        _notify_listeners(
            StatusChange(case, status_change[0], status_change[1], actor, isoformat_z(now))
        )
    return case


def _start_deadline_workflow(case: Case, deadline: Deadline) -> bool:
    """Start the deadline's workflow, or mark the deadline failed when Step Functions rejects it.

    The change is committed by then, so raising would only make the caller repeat it and
    get a stale version. A failed deadline is listed in the supervisors' report.
    """
    try:
        complaints.start_workflow(case, deadline)
    except ClientError as error:
        code = f"StartExecution.{error.response['Error']['Code']}"
        complaints.mark_failed(case, deadline, code)
        return False
    return True


def _notify_listeners(change: StatusChange) -> None:
    # The modules that register listeners are imported with the workflow tasks.
    from chalicelib.workflows import registry  # noqa: F401

    for listener in list(_listeners):
        try:
            listener(change)
        except Exception:  # noqa: BLE001 - logged with its traceback; the change stands
            # The change is committed, so a failing listener must not turn it into an
            # error that makes the caller repeat it.
            logger.exception(
                "status change listener failed",
                extra={"case_id": change.case.case_id, "listener": listener.__name__},
            )
