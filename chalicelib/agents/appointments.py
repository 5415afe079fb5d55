"""Appointments for agents: the agency's call list, and confirming or cancelling for a citizen.

The list is one Query of the status index, `AGENCY#<id>#APPOINTMENT#<status>`, whose
sort key starts with the appointment's UTC start time.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.agents.access import Agent, HiddenError
from chalicelib.agents.cases import _visible_case as visible_case
from chalicelib.agents.schemas import AppointmentEntry
from chalicelib.appointments import actions, lifecycle, rescheduling
from chalicelib.appointments.statuses import CANCELLED, CONFIRMED
from chalicelib.clock import isoformat_z
from chalicelib.journey.references import format_reference
from chalicelib.store.models import Appointment, appointment_queue_key

# The channel recorded for a change an agent makes, usually while calling the citizen.
AGENT_CHANNEL = "agent"
MAX_ITEMS = 500


def appointments_on(agent: Agent, agency_id: str, status: str, day: date) -> list[AppointmentEntry]:
    """Return the agency's appointments in `status` that start on `day` in its time zone.

    Raises HiddenError (404) for another agency's list.
    """
    if agency_id != agent.agency_id:
        raise HiddenError(
            f"agency {agency_id!r} not found",
            audit_reason="list belongs to another agency",
            field="agency_id",
        )
    start = datetime.combine(day, time.min, tzinfo=ZoneInfo(agent.agency.timezone))
    end = isoformat_z(start + timedelta(days=1))
    items = Appointment.by_status.query(
        appointment_queue_key(agency_id, status),
        Appointment.gsi1sk.between(isoformat_z(start), end),
        limit=MAX_ITEMS,
    )
    entries = [_entry(item) for item in items if item.starts_at < end]
    agent.audit.citizen_ids = sorted({entry.citizen_id for entry in entries})
    agent.audit.reason = "agency's own appointments"
    return entries


def change(agent: Agent, case_id: str, status: str) -> lifecycle.Change:
    """Confirm or cancel the appointment of a case of the agent's agency."""
    case = visible_case(agent, case_id)
    appointment = lifecycle.appointment_of(case.case_id)
    if status == CANCELLED:
        return actions.cancel(appointment, AGENT_CHANNEL)
    if status == CONFIRMED:
        return actions.confirm(appointment, AGENT_CHANNEL)
    raise ValueError(f"unexpected status {status!r}")


def reschedule(
    agent: Agent, case_id: str, office: str | None, starts_at: datetime
) -> lifecycle.Change:
    """Move the appointment of a case of the agent's agency to another slot."""
    case = visible_case(agent, case_id)
    appointment = lifecycle.appointment_of(case.case_id)
    moved = rescheduling.reschedule(
        agent.agency, appointment, office or appointment.office, starts_at, AGENT_CHANNEL
    )
    return lifecycle.Change(moved, moved.status, changed=True)


def _entry(item: Appointment) -> AppointmentEntry:
    return AppointmentEntry(
        case_id=item.case_id,
        case_reference=format_reference(item.reference),
        citizen_id=item.citizen_id,
        service=item.service,
        office=item.office,
        starts_at=item.starts_at,
        status=item.status,
        booked_on=item.booked_on,
        reminder_channels=list(item.reminder_channels or []),
        answered_on=item.answered_on,
    )
