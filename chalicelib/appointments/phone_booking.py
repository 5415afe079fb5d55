"""The contact flow's `book_appointment` action: the earliest free slot of a service.

`Parameters.service` names the service and `Parameters.office` the office, if the
caller chose one. A caller id is only a claim and can be spoofed, so the booking goes
on the provisional profile that claims the caller id on the phone, never on the
verified owner of that number. Reminders reach only verified identities, so such an
appointment reaches the call list unless the citizen later quotes its reference from
a verified channel (an SMS from that phone, say), which proves the claim.
"""

from datetime import timedelta

from chalicelib.appointments import booking, texts
from chalicelib.appointments.settings import settings_of
from chalicelib.clock import parse_utc, utc_now
from chalicelib.errors import ConflictError
from chalicelib.journey import calls
from chalicelib.journey.models import VOICE
from chalicelib.journey.prompts import spoken_reference
from chalicelib.journey.references import format_reference
from chalicelib.store.models import Case, IdentityLink, case_key, identity_key

BOOK_ACTION = "book_appointment"
# Slots offered start at least MIN_LEAD after the call and at most SEARCH_WINDOW after it.
MIN_LEAD = timedelta(hours=1)
SEARCH_WINDOW = timedelta(days=14)


def book(call: calls.Call, parameters: dict[str, str]) -> dict[str, str]:
    """Book the earliest free slot of the service for the caller and return the answer."""
    language = call.agency.language_for(call.language_hint)
    if call.caller is None:
        return _answer("invalid", language, "phone_booking_needs_caller_id")
    service = (parameters.get("service") or "").strip()
    office = (parameters.get("office") or "").strip() or None
    settings_of(call.agency).check(service, office)

    now = utc_now()
    free = [
        slot
        for slot in booking.list_slots(
            call.agency, service, office, now + MIN_LEAD, now + SEARCH_WINDOW
        )
        if slot.available > 0
    ]
    if not free:
        return _answer("not_found", language, "phone_no_slot")
    citizen_id = _phone_claimant(call)
    booker = booking.Booker(
        channel=VOICE,
        language=language,
        citizen_id=citizen_id,
        claims=() if citizen_id else (call.caller,),
    )
    try:
        booked = booking.book(
            call.agency, booker, service, free[0].office, parse_utc(free[0].starts_at)
        )
    except ConflictError:
        # The slot filled meanwhile, or this claimant already has an appointment for
        # the service: the flow offers an agent.
        return _answer("not_found", language, "phone_booking_conflict")

    case = Case.get(case_key(booked.case_id), "CASE")
    calls.record_call(call, booked.citizen_id, BOOK_ACTION, case)
    when = texts.spoken_time(parse_utc(booked.starts_at), call.agency.timezone, language)
    prompt = texts.text(
        "phone_booked", language, when=when, reference=spoken_reference(booked.reference)
    )
    return {
        "result": "ok",
        "language": language,
        "appointment_status": booked.status,
        "appointment_time": when,
        "latest_case_reference": format_reference(booked.reference),
        "prompt": prompt,
    }


def _phone_claimant(call: calls.Call) -> str | None:
    """Return the citizen id of the provisional profile that an earlier call from this
    caller id opened, if any."""
    claims = IdentityLink.query(
        identity_key(call.caller.kind, call.caller.value),
        IdentityLink.sk.startswith("CLAIM#"),
        filter_condition=IdentityLink.source_channel == VOICE,
    )
    claim = next(iter(claims), None)
    return claim.citizen_id if claim is not None else None


def _answer(result: str, language: str, key: str) -> dict[str, str]:
    return {"result": result, "language": language, "prompt": texts.text(key, language)}
