"""Phone self-service: who is calling, and the status of a case keyed on the keypad.

A caller id can be spoofed, so a caller recognised only by it hears a greeting
and how many cases are open, never case details; those need the case reference.
Every invocation of one call updates one contact on the timeline.
"""

from dataclasses import dataclass

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import utc_now
from chalicelib.errors import DuplicateEventError
from chalicelib.journey import prompts
from chalicelib.journey.models import OPEN_STATUSES, VOICE, Identity
from chalicelib.journey.records import (
    contact_id_for,
    new_claim,
    new_contact,
    new_id,
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


@dataclass
class _Caller:
    citizen_id: str | None = None
    known: bool = False
    profile: CitizenProfile | None = None
    # Writes that create the caller's provisional profile, if any.
    pending: Transaction | None = None


def identify(call: Call) -> dict[str, str]:
    """Greet the caller, say how many cases they have open, and record the call."""
    caller = _find_caller(call, create=True)
    language = _language(call, caller)
    answer = {"result": "ok", "known_caller": "true" if caller.known else "false"}
    answer["language"] = language
    open_cases = _open_case_count(caller, call.agency.agency_id)
    answer["open_cases"] = str(open_cases)
    first_name = caller.profile.first_name if caller.known and caller.profile else None
    if first_name:
        answer["first_name"] = first_name
    if caller.profile and caller.profile.channels:
        answer["channels"] = ",".join(sorted(caller.profile.channels))
    answer["prompt"] = _greeting(language, caller.known, first_name, open_cases)
    _record_call(call, caller, "identify")
    return answer


def case_status(call: Call, keyed: str | None) -> dict[str, str]:
    """Answer the status of the case whose reference the caller keyed."""
    caller = _find_caller(call, create=False)
    language = _language(call, caller)
    reference = parse_reference(keyed or "")
    if reference is None:
        return _answer("invalid", language, "reference_invalid")
    case = _case_by_reference(reference)
    if case is None:
        return _answer("not_found", language, "case_not_found")

    if caller.citizen_id is None:
        caller.citizen_id = case.citizen_id
    same_agency = case.agency_id == call.agency.agency_id
    _record_call(call, caller, "case_status", case if same_agency else None)
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


def error_answer(language: str) -> dict[str, str]:
    """Return the safe branch a flow takes when anything failed."""
    return _answer("error", language, "error")


def _answer(result: str, language: str, prompt: str) -> dict[str, str]:
    return {"result": result, "language": language, "prompt": prompts.text(prompt, language)}


def _find_caller(call: Call, create: bool) -> _Caller:
    """Find the caller by caller id: its verified owner, else a profile claiming it."""
    if call.caller is None:
        return _Caller()
    key = identity_key(call.caller.kind, call.caller.value)
    items = list(IdentityLink.query(key))
    owner = next((item for item in items if item.sk == "LINK"), None)
    if owner is not None:
        return _Caller(owner.citizen_id, True, _profile(owner.citizen_id))
    claim = next((item for item in items if item.source_channel == VOICE), None)
    if claim is not None:
        return _Caller(claim.citizen_id, False, _profile(claim.citizen_id))
    if not create:
        return _Caller()
    return _new_caller(call)


def _new_caller(call: Call) -> _Caller:
    """Prepare a provisional profile that claims an unknown caller id."""
    now = utc_now()
    citizen_id = new_id()
    language = call.agency.language_for(call.language_hint)
    profile = new_profile(citizen_id, language, VOICE, provisional=True, now=now)
    pending = Transaction()
    pending.put_new(profile, tag="profile")
    pending.put(
        new_claim(call.caller.kind, call.caller.value, citizen_id, VOICE, language, now),
        tag="claim",
    )
    return _Caller(citizen_id, False, profile, pending)


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def _language(call: Call, caller: _Caller) -> str:
    if caller.profile is not None and caller.profile.language:
        return call.agency.language_for(caller.profile.language)
    return call.agency.language_for(call.language_hint)


def _open_case_count(caller: _Caller, agency_id: str) -> int:
    """Count the caller's open cases at this agency, merged profiles included."""
    if caller.profile is None or caller.pending is not None:
        return 0
    citizen_ids = [caller.citizen_id, *sorted(caller.profile.merged_from or ())]
    count = 0
    for citizen_id in citizen_ids:
        cases = CitizenCase.query(citizen_key(citizen_id), CitizenCase.sk.startswith("CASE#"))
        count += sum(
            1 for case in cases if case.agency_id == agency_id and case.status in OPEN_STATUSES
        )
    return count


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


def _case_by_reference(reference: str) -> Case | None:
    try:
        pointer = CaseReference.get(reference_key(reference), "CASE")
        return Case.get(case_key(pointer.case_id), "CASE")
    except (CaseReference.DoesNotExist, Case.DoesNotExist):
        return None


def _record_call(call: Call, caller: _Caller, action: str, case: Case | None = None) -> None:
    """Put the call on the caller's timeline, or add `action` to the contact it already has."""
    if caller.citizen_id is None:
        logger.info("call not recorded: caller unknown", extra={"action": action})
        return
    now = utc_now()
    contact = new_contact(
        contact_id=contact_id_for(VOICE, call.call_id),
        citizen_id=caller.citizen_id,
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
    transaction = caller.pending or Transaction()
    transaction.put_new(contact, tag="contact")
    transaction.put_new(new_marker(VOICE, call.call_id, contact, now), tag="dedupe")
    try:
        transaction.commit()
    except DuplicateEventError:
        _add_action(call, action, case)
        return
    logger.info("call recorded", extra={"citizen_id": caller.citizen_id, "action": action})


def _add_action(call: Call, action: str, case: Case | None) -> None:
    """Add an action to a call's existing contact; repeating one changes nothing."""
    marker = DedupeMarker.get(event_key(VOICE, call.call_id), "EVENT")
    actions = [Contact.actions.add({action})]
    if case is not None:
        actions += [Contact.case_id.set(case.case_id), Contact.case_reference.set(case.reference)]
    Contact(citizen_key(marker.citizen_id), marker.contact_sk).update(actions=actions)
    logger.info("call updated", extra={"citizen_id": marker.citizen_id, "action": action})
