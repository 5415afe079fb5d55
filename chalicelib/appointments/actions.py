"""Confirm or cancel an appointment outside the reminder's wait: by phone or by an agent.

The change is the same as an answer to the reminder. The reminder's execution is
stopped afterwards, because nothing is left for it to ask.
"""

from chalicelib.appointments import lifecycle, reminders
from chalicelib.appointments.lifecycle import Change
from chalicelib.appointments.statuses import CANCELLED, CONFIRMED
from chalicelib.store.models import Appointment, Case, case_key
from chalicelib.workflows import engine


def confirm(appointment: Appointment, channel: str) -> Change:
    """Confirm an appointment answered on `channel` and stop its reminder."""
    return _apply(appointment, channel, CONFIRMED)


def cancel(appointment: Appointment, channel: str) -> Change:
    """Cancel an appointment on `channel`, which frees its slot, and stop its reminder."""
    return _apply(appointment, channel, CANCELLED)


def _apply(appointment: Appointment, channel: str, status: str) -> Change:
    change = (lifecycle.cancel if status == CANCELLED else lifecycle.confirm)(appointment, channel)
    if not change.changed:
        return change
    case = Case.get(case_key(appointment.case_id), "CASE")
    engine.record_step(
        case,
        reminders.KIND,
        status,
        external_id=f"{case.case_id}#{appointment.occurrence}#{status}",
        channel=channel,
    )
    reminders.stop(case, f"appointment {status} on {channel}")
    return change
