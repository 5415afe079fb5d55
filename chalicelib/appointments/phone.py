"""The contact flow's appointment actions: `confirm_appointment` and `cancel_appointment`
here, `book_appointment` in phone_booking.py.

Both need the case reference keyed by the caller, confirming as well as cancelling.
A caller id can be spoofed. A spoofed confirmation would take an appointment off the
agency's call list, and a spoofed cancellation would free someone else's place. The
reference, by contrast, was sent only to the citizen who booked. With the reference, the
answer also tells the appointment's time, which is a case detail.
"""

from chalicelib.appointments import actions, lifecycle, phone_booking, texts
from chalicelib.appointments.statuses import CANCELLED
from chalicelib.clock import parse_utc
from chalicelib.errors import NotFoundError
from chalicelib.journey import calls
from chalicelib.journey.references import format_reference, parse_reference
from chalicelib.store.models import Case, CaseReference, case_key, reference_key

CONFIRM_ACTION = "confirm_appointment"
CANCEL_ACTION = "cancel_appointment"
ACTIONS = frozenset({CONFIRM_ACTION, CANCEL_ACTION, phone_booking.BOOK_ACTION})


def answer(call: calls.Call, action: str, parameters: dict[str, str]) -> dict[str, str]:
    """Run one appointment action of the contact flow and return its answer."""
    if action == phone_booking.BOOK_ACTION:
        return phone_booking.book(call, parameters)
    return _confirm_or_cancel(call, action, parameters.get("case_reference"))


def _confirm_or_cancel(call: calls.Call, action: str, keyed: str | None) -> dict[str, str]:
    """Confirm or cancel the appointment of the keyed case and return the flow's answer."""
    caller = calls.find_caller(call)
    language = calls.caller_language(call, caller)

    reference = parse_reference(keyed or "")
    if reference is None:
        return calls.short_answer("invalid", language, "reference_invalid")
    case = _case(reference, call.agency.agency_id)
    if case is None:
        return calls.short_answer("not_found", language, "case_not_found")
    try:
        appointment = lifecycle.appointment_of(case.case_id)
    except NotFoundError:
        return _plain("not_found", language, "phone_no_appointment")

    # The reference was sent only to the citizen who booked, so a call from an unknown
    # caller id is recorded on that citizen's timeline, as case_status does.
    calls.record_call(call, caller.citizen_id or case.citizen_id, action, case)
    if appointment.status == CANCELLED:
        return {
            **_plain("not_found", language, "phone_already_cancelled"),
            "appointment_status": CANCELLED,
        }
    apply = actions.cancel if action == CANCEL_ACTION else actions.confirm
    change = apply(appointment, call.channel)

    when = texts.spoken_time(parse_utc(appointment.starts_at), call.agency.timezone, language)
    key = "phone_cancelled" if change.status == CANCELLED else "phone_confirmed"
    return {
        "result": "ok",
        "language": language,
        "appointment_status": change.status,
        "appointment_time": when,
        "latest_case_reference": format_reference(case.reference),
        "prompt": texts.text(key, language, when=when),
    }


def _case(reference: str, agency_id: str) -> Case | None:
    """Return the reference's case when it belongs to this agency's line."""
    try:
        pointer = CaseReference.get(reference_key(reference), "CASE")
        case = Case.get(case_key(pointer.case_id), "CASE")
    except (CaseReference.DoesNotExist, Case.DoesNotExist):
        return None
    return case if case.agency_id == agency_id else None


def _plain(result: str, language: str, key: str) -> dict[str, str]:
    return {"result": result, "language": language, "prompt": texts.text(key, language)}
