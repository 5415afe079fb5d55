"""Phone self-service: who is calling, and the status of a case keyed on the keypad.

A caller id can be spoofed, so a caller recognised only by it hears a greeting
and how many cases are open, never case details. Case details need the case
reference.
Every invocation of one call updates one contact on the timeline.

DynamoDB requests per action once the agency is cached: identify makes four for a
known caller (identity query, profile, cases query, one transaction) and two for
an unknown one; case_status makes four (identity query, the call's marker and the
reference in one TransactGetItems, the case, one write), whether or not identify
ran first in the call.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.transactions import TransactGet

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import DuplicateEventError
from chalicelib.journey import prompts
from chalicelib.journey.models import CONNECT_CHAT, OPEN_STATUSES, VOICE, Identity
from chalicelib.journey.records import (
    contact_id_for,
    new_claim,
    new_contact,
    new_id,
    new_link,
    new_marker,
    new_profile,
)
from chalicelib.journey.references import format_reference, parse_reference
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CaseReference,
    CitizenCase,
    CitizenProfile,
    Contact,
    DedupeMarker,
    IdentityLink,
    case_key,
    citizen_key,
    event_key,
    identity_key,
    reference_key,
)
from chalicelib.store.transactions import Transaction


@dataclass(frozen=True)
class Call:
    """One invocation from a contact flow, free of Connect's event format."""

    agency: AgencyConfig
    # The id shared by every leg of the call (Connect's InitialContactId).
    call_id: str
    channel: str
    caller: Identity | None
    language_hint: str | None
    # The leg that invoked the flow (Connect's ContactId), its instance, and the queue
    # the flow set, which a callback joins.
    contact_id: str | None = None
    instance_arn: str | None = None
    queue_arn: str | None = None
    queue_name: str | None = None


@dataclass
class Caller:
    """The citizen behind a caller id, and what identify read or prepared for them."""

    citizen_id: str | None = None
    # True only for the owner of a verified identity, because a claim never makes a caller known.
    known: bool = False
    # The language stored on the identity link or claim, so case_status needs no profile.
    language: str | None = None
    profile: CitizenProfile | None = None
    # Writes that create the caller's provisional profile, if any.
    pending: Transaction | None = None
    # The open case the caller's identity link remembers for each agency.
    open_cases: dict[str, dict] | None = None


def identify(call: Call) -> dict[str, str]:
    """Greet the caller, say how many cases they have open, and record the call."""
    caller = find_caller(call)
    if caller.citizen_id is not None:
        caller.profile = _profile(caller.citizen_id)
    elif call.caller is not None:
        caller = new_caller(call)
    language = caller_language(call, caller)
    cases = _open_cases(caller, call.agency.agency_id)
    open_cases = len(cases)
    # Only that an appointment is pending, like the open case count: its time is a
    # case detail, which needs the case reference.
    now = isoformat_z(utc_now())
    pending = any(case.appointment_starts_at and case.appointment_starts_at > now for case in cases)
    answer = {
        "result": "ok",
        "known_caller": "true" if caller.known else "false",
        "language": language,
        "open_cases": str(open_cases),
        "pending_appointment": "true" if pending else "false",
    }
    # Profile details go only to the owner of a verified identity, never to a claim.
    profile = caller.profile if caller.known else None
    first_name = profile.first_name if profile is not None else None
    if first_name:
        answer["first_name"] = first_name
    if profile is not None and profile.channels:
        answer["channels"] = ",".join(sorted(profile.channels))
    answer["prompt"] = _greeting(language, caller.known, first_name, open_cases)
    record_call(call, caller.citizen_id, "identify", pending=caller.pending)
    if call.channel == CONNECT_CHAT and caller.citizen_id is not None:
        _link_chat_conversation(call, caller.citizen_id, language, caller.open_cases)
    return answer


def case_status(call: Call, keyed: str | None) -> dict[str, str]:
    """Answer the status of the case whose reference the caller keyed."""
    caller = find_caller(call)
    language = caller_language(call, caller)
    reference = parse_reference(keyed or "")
    if reference is None:
        return short_answer("invalid", language, "reference_invalid")
    marker, case = _marker_and_case(call.call_id, reference)
    # Each agency's line answers for its own cases only, as SMS and chat join
    # only their own agency's references: another agency's case is not found.
    if case is None or case.agency_id != call.agency.agency_id:
        return short_answer("not_found", language, "case_not_found")

    attached = case
    if marker is not None:
        add_action(marker, "case_status", attached)
    else:
        # The reference was sent only to whoever opened the case, so a caller id
        # that points to no citizen is recorded on the case owner's timeline.
        citizen_id = caller.citizen_id or case.citizen_id
        record_call(call, citizen_id, "case_status", attached)
    status = prompts.status_word(case.status, language)
    formatted = format_reference(case.reference)
    return {
        "result": "ok",
        "language": language,
        "case_status": case.status,
        "latest_case_reference": formatted,
        "latest_case_status": case.status,
        "prompt": prompts.text(
            "case_status",
            language,
            reference=prompts.spoken_reference(case.reference),
            status=status,
        ),
    }


def error_answer(language: str, error_code: str, prompt: str = "error") -> dict[str, str]:
    """Return the safe answer of an action that could not run, naming why in `error_code`."""
    return {**short_answer("error", language, prompt), "error_code": error_code}


def short_answer(result: str, language: str, prompt: str) -> dict[str, str]:
    """Return an answer of only a result, the language and the prompt `prompt`."""
    return {"result": result, "language": language, "prompt": prompts.text(prompt, language)}


def find_caller(call: Call) -> Caller:
    """Find the caller id's verified owner, else the profile of an earlier call from it.

    A claim typed on another channel, such as a phone number given in a chat, is
    ignored: a caller id is only a claim too, and two claims prove nothing.
    """
    if call.caller is None:
        return Caller()
    key = identity_key(call.caller.kind, call.caller.value)
    items = list(IdentityLink.query(key))
    owner = next((item for item in items if item.sk == "LINK"), None)
    if owner is not None:
        return Caller(
            owner.citizen_id,
            known=True,
            language=owner.language,
            open_cases=_open_case_entries(owner),
        )
    claim = next((item for item in items if item.source_channel == VOICE), None)
    if claim is not None:
        return Caller(
            claim.citizen_id, language=claim.language, open_cases=_open_case_entries(claim)
        )
    return Caller()


def _open_case_entries(link: IdentityLink) -> dict[str, dict]:
    return link.open_cases.as_dict() if link.open_cases else {}


def new_caller(call: Call) -> Caller:
    """Prepare a provisional profile that claims an unknown caller id."""
    now = utc_now()
    citizen_id = new_id()
    language = call.agency.language_for(call.language_hint)
    profile = new_profile(
        citizen_id, language, VOICE, provisional=True, now=now, identities=[call.caller]
    )
    pending = Transaction()
    pending.put_new(profile, tag="profile")
    pending.put(
        new_claim(call.caller.kind, call.caller.value, citizen_id, VOICE, language, now),
        tag="claim",
    )
    return Caller(citizen_id, language=language, profile=profile, pending=pending)


def caller_of(call: Call) -> tuple[str | None, Transaction | None]:
    """Return the citizen whose timeline a call goes on, chosen as identify chooses.

    That is the caller id's verified owner, else the profile of an earlier call from
    the number, else a new provisional profile, whose writes come back as the
    transaction to commit with the call. Returns (None, None) for a withheld caller id.
    """
    caller = find_caller(call)
    if caller.citizen_id is None and call.caller is not None:
        caller = new_caller(call)
    return caller.citizen_id, caller.pending


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def caller_language(call: Call, caller: Caller) -> str:
    """Return the caller's stored language, else the flow's, as the agency serves it."""
    stored = caller.profile.language if caller.profile is not None else caller.language
    return call.agency.language_for(stored or call.language_hint)


def _open_cases(caller: Caller, agency_id: str) -> list[CitizenCase]:
    """Return the caller's open cases at this agency, merged profiles included."""
    if caller.profile is None or caller.pending is not None:
        return []
    citizen_ids = [caller.citizen_id, *sorted(caller.profile.merged_from or ())]
    found = []
    for citizen_id in citizen_ids:
        cases = CitizenCase.query(citizen_key(citizen_id), CitizenCase.sk.startswith("CASE#"))
        found += [
            case for case in cases if case.agency_id == agency_id and case.status in OPEN_STATUSES
        ]
    return found


def _greeting(language: str, known: bool, first_name: str | None, open_cases: int) -> str:
    if known and first_name:
        greeting = prompts.text("greeting_known", language, first_name=first_name)
    elif known:
        greeting = prompts.text("greeting_known_no_name", language)
    else:
        greeting = prompts.text("greeting_unknown", language)
    if open_cases == 1:
        return f"{greeting} {prompts.text('open_case_one', language)}"
    if open_cases > 1:
        return f"{greeting} {prompts.text('open_cases', language, count=open_cases)}"
    return greeting


def _marker_and_case(call_id: str, reference: str) -> tuple[DedupeMarker | None, Case | None]:
    """Return the call's dedupe marker, if the call is recorded, and the reference's case."""
    marker, pointer = _marker_and_pointer(call_id, reference)
    if pointer is None:
        return marker, None
    try:
        return marker, Case.get(case_key(pointer.case_id), "CASE")
    except Case.DoesNotExist:
        return marker, None


def _marker_and_pointer(
    call_id: str, reference: str
) -> tuple[DedupeMarker | None, CaseReference | None]:
    """Read the call's dedupe marker and the reference's pointer in one request.

    case_status usually follows identify, so the marker usually exists and names
    the contact to update. TransactGetItems is the one request that returns items
    of two models; it runs on a model's own connection, so it has the Meta timeouts.
    """
    with TransactGet(connection=DedupeMarker._get_connection().connection) as read:
        marker = read.get(DedupeMarker, event_key(VOICE, call_id), "EVENT")
        pointer = read.get(CaseReference, reference_key(reference), "CASE")
    return _found(marker), _found(pointer)


def _found(future: Any) -> Any:
    """Return the item a TransactGet read, or None when it does not exist."""
    try:
        return future.get()
    except DoesNotExist:
        return None


def record_call(
    call: Call,
    citizen_id: str | None,
    action: str,
    case: Case | None = None,
    pending: Transaction | None = None,
) -> None:
    """Put the call on a citizen's timeline, or add `action` to the contact it already has."""
    if citizen_id is None:
        logger.info("call not recorded: caller unknown", extra={"action": action})
        return
    now = utc_now()
    contact = new_call_contact(call, citizen_id, action, case, now)
    transaction = pending or Transaction()
    transaction.put_new(contact, tag="contact")
    transaction.put_new(new_marker(VOICE, call.call_id, contact, now), tag="dedupe")
    try:
        transaction.commit()
    except DuplicateEventError:
        # An earlier invocation recorded the call: a Connect retry, another leg
        # of a transferred call, or an action that ran at the same time.
        marker = DedupeMarker.get(event_key(VOICE, call.call_id), "EVENT")
        add_action(marker, action, case)
        return
    logger.info("call recorded", extra={"citizen_id": citizen_id, "action": action})


def new_call_contact(
    call: Call, citizen_id: str, action: str, case: Case | None, now: datetime
) -> Contact:
    """Build the one contact of a call, whose id derives from the call so retries find it."""
    return new_contact(
        contact_id=contact_id_for(VOICE, call.call_id),
        citizen_id=citizen_id,
        agency_id=call.agency.agency_id,
        channel=call.channel,
        direction="inbound",
        kind="call",
        occurred_at=now,
        now=now,
        case_id=case.case_id if case else None,
        case_reference=case.reference if case else None,
        external_id=call.call_id,
        identity_kind=call.caller.kind if call.caller else None,
        identity_verified=False,
        actions={action},
    )


def _link_chat_conversation(
    call: Call, citizen_id: str, language: str, open_cases: dict[str, dict] | None
) -> None:
    """Link a Connect chat's conversation identity to the citizen its customer endpoint names.

    The chat's streamed messages (`connect_chat_stream`) carry neither the customer
    endpoint nor the contact's attributes, so they find the citizen through this link,
    which also carries the caller's open case here. A link the stream wrote first stays.
    """
    link = new_link(CONNECT_CHAT, call.call_id, citizen_id, CONNECT_CHAT, language, utc_now())
    entry = (open_cases or {}).get(call.agency.agency_id)
    if entry:
        link.open_cases = {call.agency.agency_id: entry}
    try:
        link.save(condition=IdentityLink.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.info("chat conversation already linked", extra={"citizen_id": citizen_id})
        return
    logger.info("chat conversation linked", extra={"citizen_id": citizen_id})


def add_action(marker: DedupeMarker, action: str, case: Case | None) -> None:
    """Add an action to the contact a call's marker names; repeating one changes nothing."""
    actions = [Contact.actions.add({action})]
    if case is not None:
        actions += [Contact.case_id.set(case.case_id), Contact.case_reference.set(case.reference)]
    contact = Contact(citizen_key(marker.citizen_id), marker.contact_sk)
    # Without the condition, an update of a missing contact would create a partial one.
    contact.update(actions=actions, condition=Contact.pk.exists())
    logger.info("call updated", extra={"citizen_id": marker.citizen_id, "action": action})
