"""request_callback: the caller hangs up and an agent calls back when their turn comes.

The callback is a Connect task in the caller's queue (`chalicelib.notify.callbacks`
explains why a task). It goes to the caller id, so a withheld number gets `invalid`. The
callback is recorded as its own contact on the caller's timeline (channel "voice",
kind "callback", status "scheduled", the task's contact id as external id), attached
to the keyed case or else the case the caller's identity link remembers, and the
call's contact gets the action "request_callback".

A caller id can be spoofed, so the answer names no case, and the task tells the agent
whether the number is a verified one: an agent who calls a number that is only a claim
asks for the case reference before giving details.

Connect retries a failed invocation, so one call gets one callback: a recorded
callback is answered from its marker `EVENT#callback#<call id>`, and the task's
ClientToken derives from the call, so Connect returns the task it already created to
an invocation that found no marker.
"""

from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from chalicelib.clock import utc_now
from chalicelib.errors import DuplicateEventError
from chalicelib.journey import call_actions, calls, ivr_figures, prompts
from chalicelib.journey.call_actions import CallState, CaseRef
from chalicelib.journey.models import VOICE
from chalicelib.journey.records import contact_id_for, new_contact, new_marker
from chalicelib.journey.references import format_reference, parse_reference
from chalicelib.notify import callbacks as connect_tasks
from chalicelib.observability import logger
from chalicelib.store.models import Case, event_key
from chalicelib.store.transactions import Transaction, TransactionConflictError

# Dedupe channel of callbacks, whose external id is the call's InitialContactId.
CALLBACK_EVENTS = "callback"
SCHEDULED = "scheduled"
ACTION = "request_callback"


def request_callback(call: calls.Call, keyed: str | None) -> dict[str, str]:
    """Schedule one callback to the caller id and record it; returns the flow's answer.

    Raises CallbackError when Connect does not create the task, before anything is
    recorded.
    """
    caller = calls.find_caller(call)
    language = calls.caller_language(call, caller)
    if call.caller is None:
        return _not_scheduled("invalid", language, "callback_number_withheld")
    if not call.agency.connect_callback_flow_id:
        logger.warning("callback not scheduled: agency has no callback flow")
        return calls.error_answer(language, "not_configured", prompt="action_unavailable")
    reference = parse_reference(keyed) if keyed else None
    if keyed and reference is None:
        return _not_scheduled("invalid", language, "reference_invalid")

    state = call_actions.read_call_state(
        call.call_id, event_key(CALLBACK_EVENTS, call.call_id), reference
    )
    if reference is not None and not _is_agency_case(state.case, call):
        return _not_scheduled("not_found", language, "case_not_found")
    if state.action_marker is not None:
        logger.info("callback already scheduled", extra={"citizen_id": caller.citizen_id})
        return _scheduled(language)

    now = utc_now()
    case = state.case or call_actions.remembered_case(caller, call.agency, now)
    if caller.citizen_id is None and state.case is not None:
        # The keyed reference was sent only to whoever opened the case, as case_status assumes.
        caller.citizen_id = state.case.citizen_id
    elif caller.citizen_id is None:
        caller = calls.new_caller(call)
    task_contact_id = connect_tasks.start_callback_task(_task(call, caller, case))
    _record(call, caller, case, state, task_contact_id, now)
    ivr_figures.count_choice(call, ivr_figures.CALLBACK_REQUESTED, now)
    return _scheduled(language)


def _is_agency_case(case: Case | None, call: calls.Call) -> bool:
    # A line serves only its own agency's cases, as case_status does.
    return case is not None and case.agency_id == call.agency.agency_id


def _task(
    call: calls.Call, caller: calls.Caller, case: Case | CaseRef | None
) -> connect_tasks.CallbackTask:
    """Build the task agents see, written in the agency's default language."""
    language = call.agency.default_language
    phone = call.caller.value
    lines = [prompts.text("callback_task_number", language, phone=phone)]
    if case is not None:
        reference = format_reference(case.reference)
        lines.append(prompts.text("callback_task_case", language, reference=reference))
    if not caller.known:
        lines.append(prompts.text("callback_task_unverified", language))
    attributes = {
        "callback_number": phone,
        "callback_number_verified": "true" if caller.known else "false",
        "callback_language": calls.caller_language(call, caller),
        "ventanilla_call_id": call.call_id,
    }
    if call.queue_arn:
        attributes["callback_queue_arn"] = call.queue_arn
    if caller.citizen_id:
        attributes["citizen_id"] = caller.citizen_id
    if case is not None:
        attributes["case_reference"] = format_reference(case.reference)
    return connect_tasks.CallbackTask(
        instance_arn=call.instance_arn or "",
        flow_id=call.agency.connect_callback_flow_id or "",
        contact_id=call.contact_id or call.call_id,
        call_id=call.call_id,
        phone=phone,
        name=prompts.text("callback_task_name", language),
        description=" ".join(lines),
        attributes=attributes,
    )


def _record(
    call: calls.Call,
    caller: calls.Caller,
    case: Case | CaseRef | None,
    state: CallState,
    task_contact_id: str,
    now: datetime,
) -> None:
    """Write the callback's contact, its marker and the call's action in one transaction.

    The task exists by now, so a write that fails is logged, not raised: the caller
    still gets the callback, and an error answer would make them wait in the queue too.
    """
    citizen_id = caller.citizen_id
    callback = new_contact(
        contact_id=contact_id_for(CALLBACK_EVENTS, call.call_id),
        citizen_id=citizen_id,
        agency_id=call.agency.agency_id,
        channel=VOICE,
        direction="outbound",
        kind="callback",
        occurred_at=now,
        now=now,
        case_id=case.case_id if case else None,
        case_reference=case.reference if case else None,
        external_id=task_contact_id,
        identity_kind=call.caller.kind,
        identity_verified=caller.known,
        delivery_status=SCHEDULED,
    )

    def build(call_marker):
        transaction = Transaction()
        if caller.pending is not None:
            transaction.extend(caller.pending)
        transaction.put_new(callback, tag="callback contact")
        transaction.put_new(new_marker(CALLBACK_EVENTS, call.call_id, callback, now), tag="dedupe")
        call_actions.add_call_writes(transaction, call, citizen_id, ACTION, case, call_marker, now)
        return transaction

    try:
        call_actions.commit_with_call(build, call.call_id, state.call_marker)
    except DuplicateEventError:
        logger.info("callback recorded by another invocation", extra={"citizen_id": citizen_id})
        return
    except (PynamoDBException, TransactionConflictError) as error:
        logger.error(
            "callback scheduled but not recorded",
            extra={
                "citizen_id": citizen_id,
                "task_contact_id": task_contact_id,
                "error_type": type(error).__name__,
            },
        )
        return
    logger.info(
        "callback scheduled",
        extra={"citizen_id": citizen_id, "task_contact_id": task_contact_id},
    )


def _scheduled(language: str) -> dict[str, str]:
    answer = calls.short_answer("ok", language, "callback_scheduled")
    return {**answer, "callback_scheduled": "true"}


def _not_scheduled(result: str, language: str, prompt: str) -> dict[str, str]:
    return {**calls.short_answer(result, language, prompt), "callback_scheduled": "false"}
