"""Move an active appointment to another slot of the same service.

One transaction frees the old slot's place, takes one in the new slot on the condition
`booked < capacity`, and moves the appointment to the next occurrence, which is booked
again with no reminder sent. The old occurrence's reminder is then stopped and a new
execution, named for the new occurrence, starts.
"""

from datetime import datetime

from chalicelib.agencies import AgencyConfig
from chalicelib.appointments import lifecycle, reminders
from chalicelib.appointments.booking import SLOT_TAG, slot_of
from chalicelib.appointments.settings import settings_of
from chalicelib.appointments.statuses import ACTIVE_STATUSES, BOOKED
from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.errors import ConflictError, ValidationError
from chalicelib.observability import logger
from chalicelib.store.models import (
    Appointment,
    AppointmentHold,
    AppointmentSlot,
    Case,
    CitizenCase,
    agency_key,
    appointment_queue_key,
    case_key,
    citizen_key,
    hold_sort_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import engine

APPOINTMENT_TAG = "appointment"


def reschedule(
    agency: AgencyConfig, appointment: Appointment, office: str, starts_at: datetime, channel: str
) -> Appointment:
    """Move the appointment to the slot of its service at `office` and `starts_at`.

    Raises ValidationError for a slot that has started or a cancelled appointment,
    NotFoundError for a slot that does not exist, and ConflictError when the new
    slot is full or the appointment changed meanwhile.
    """
    settings = settings_of(agency)
    settings.check(appointment.service, office)
    if appointment.status not in ACTIVE_STATUSES:
        raise ValidationError(
            f"the appointment is {appointment.status}; book a new one instead", field="case_id"
        )
    slot = slot_of(agency, appointment.service, office, isoformat_z(starts_at))
    now = utc_now()
    if parse_utc(slot.starts_at) <= now:
        raise ValidationError("starts_at: the slot has already started", field="starts_at")
    if slot.sk == appointment.slot_sk:
        raise ValidationError(
            "starts_at: the appointment is already in this slot", field="starts_at"
        )

    moved = _commit(appointment, slot, now)
    case = Case.get(case_key(appointment.case_id), "CASE")
    reminders.stop(case, "appointment rescheduled")
    engine.record_step(
        case,
        reminders.KIND,
        "rescheduled",
        external_id=f"{case.case_id}#{moved.occurrence}#rescheduled",
        channel=channel,
        body=f"{appointment.starts_at} -> {moved.starts_at}",
    )
    reminders.start(agency, settings, moved)
    logger.info(
        "appointment rescheduled",
        extra={"case_id": moved.case_id, "occurrence": int(moved.occurrence)},
    )
    return moved


def _commit(appointment: Appointment, slot: AppointmentSlot, now: datetime) -> Appointment:
    occurrence = int(appointment.occurrence) + 1
    stamp = isoformat_z(now)
    transaction = Transaction()
    transaction.update(
        Appointment(appointment.pk, appointment.sk),
        [
            Appointment.slot_sk.set(slot.sk),
            Appointment.office.set(slot.office),
            Appointment.starts_at.set(slot.starts_at),
            Appointment.status.set(BOOKED),
            Appointment.occurrence.set(occurrence),
            Appointment.reminder_channels.remove(),
            Appointment.answered_on.remove(),
            Appointment.updated_at.set(stamp),
            Appointment.gsi1pk.set(appointment_queue_key(appointment.agency_id, BOOKED)),
            Appointment.gsi1sk.set(f"{slot.starts_at}#{appointment.case_id}"),
        ],
        tag=APPOINTMENT_TAG,
        condition=Appointment.occurrence == int(appointment.occurrence),
    )
    transaction.update(
        AppointmentSlot(agency_key(appointment.agency_id), appointment.slot_sk),
        [AppointmentSlot.booked.add(-1)],
        tag="old slot",
        condition=AppointmentSlot.booked > 0,
    )
    transaction.update(
        slot,
        [AppointmentSlot.booked.add(1)],
        tag=SLOT_TAG,
        condition=AppointmentSlot.pk.exists() & (AppointmentSlot.booked < AppointmentSlot.capacity),
    )
    transaction.update(
        AppointmentHold(
            citizen_key(appointment.citizen_id),
            hold_sort_key(appointment.agency_id, appointment.service),
        ),
        [AppointmentHold.starts_at.set(slot.starts_at)],
        tag="hold",
        condition=AppointmentHold.case_id == appointment.case_id,
    )
    transaction.update(
        CitizenCase(citizen_key(appointment.citizen_id), case_key(appointment.case_id)),
        [CitizenCase.appointment_starts_at.set(slot.starts_at)],
        tag="citizen case",
    )
    try:
        transaction.commit()
    except TransactionConflictError as error:
        if SLOT_TAG in error.tags:
            raise ConflictError(
                "the slot is full or was just taken; choose another slot", field="starts_at"
            ) from error
        raise ConflictError(
            "the appointment changed meanwhile; read it again and retry", field="case_id"
        ) from error
    return lifecycle.appointment_of(appointment.case_id)
