"""Status changes of an appointment after booking: confirmed, unconfirmed, cancelled.

Each change is one conditional write on the appointment's status, so a duplicate
answer, a retried task or two channels answering at once change it once. A
cancellation frees the slot in the same transaction: `booked` goes down by one only
when the status moved from an active one to cancelled, so exactly once.
"""

from dataclasses import dataclass

from chalicelib.appointments.statuses import (
    ACTIVE_STATUSES,
    BOOKED,
    CANCELLED,
    CONFIRMED,
    UNCONFIRMED,
)
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import NotFoundError
from chalicelib.journey.models import CLOSED
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
    queue_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

APPOINTMENT_TAG = "appointment"
# The statuses each change starts from.
CONFIRMABLE = (BOOKED, UNCONFIRMED)
CANCELLABLE = ACTIVE_STATUSES


@dataclass(frozen=True)
class Change:
    """The outcome of a requested change: the status now, and whether this call made it."""

    appointment: Appointment
    status: str
    changed: bool


def appointment_of(case_id: str) -> Appointment:
    """Return the appointment of a case; raises NotFoundError when the case has none."""
    try:
        return Appointment.get(case_key(case_id), "APPOINTMENT")
    except Appointment.DoesNotExist as error:
        raise NotFoundError("the case has no appointment", field="case_id") from error


def confirm(appointment: Appointment, channel: str) -> Change:
    """Mark a booked or unconfirmed appointment confirmed by an answer on `channel`."""
    return _change(appointment, CONFIRMED, CONFIRMABLE, channel)


def mark_unconfirmed(appointment: Appointment) -> Change:
    """Put a booked appointment that no answer confirmed on the agency's call list."""
    return _change(appointment, UNCONFIRMED, (BOOKED,), None)


def cancel(appointment: Appointment, channel: str) -> Change:
    """Cancel an active appointment, free its place in the slot and close its case."""
    return _change(appointment, CANCELLED, CANCELLABLE, channel)


def _change(
    appointment: Appointment, status: str, allowed: tuple[str, ...], channel: str | None
) -> Change:
    if appointment.status == status:
        return Change(appointment, status, changed=False)
    if appointment.status not in allowed:
        return Change(appointment, appointment.status, changed=False)

    stamp = isoformat_z(utc_now())
    transaction = Transaction()
    actions = [
        Appointment.status.set(status),
        Appointment.updated_at.set(stamp),
        Appointment.gsi1pk.set(appointment_queue_key(appointment.agency_id, status)),
    ]
    if channel is not None:
        actions.append(Appointment.answered_on.set(channel))
    transaction.update(
        Appointment(appointment.pk, appointment.sk),
        actions,
        tag=APPOINTMENT_TAG,
        condition=Appointment.status.is_in(*allowed),
    )
    if status == CANCELLED:
        _add_release(transaction, appointment, stamp)

    try:
        transaction.commit()
    except TransactionConflictError as error:
        if APPOINTMENT_TAG not in error.tags:
            raise
        # Another answer changed the status first: report what it is now.
        current = appointment_of(appointment.case_id)
        logger.info(
            "appointment change lost a race",
            extra={"case_id": appointment.case_id, "status": current.status},
        )
        return Change(current, current.status, changed=False)
    logger.info(
        "appointment status changed",
        extra={"case_id": appointment.case_id, "from": appointment.status, "to": status},
    )
    appointment.status = status
    return Change(appointment, status, changed=True)


def _add_release(transaction: Transaction, appointment: Appointment, stamp: str) -> None:
    """Free the slot's place, release the citizen's hold and close the case."""
    transaction.update(
        AppointmentSlot(agency_key(appointment.agency_id), appointment.slot_sk),
        [AppointmentSlot.booked.add(-1)],
        tag="slot",
        condition=AppointmentSlot.booked > 0,
    )
    hold = _hold(appointment)
    # After the appointment's time a new booking of the service may own the hold.
    if hold is not None and hold.case_id == appointment.case_id:
        transaction.update(
            hold,
            [AppointmentHold.active.set(False)],
            tag="hold",
            condition=AppointmentHold.case_id == appointment.case_id,
        )
    transaction.update(
        Case(case_key(appointment.case_id), "CASE"),
        [
            Case.status.set(CLOSED),
            Case.gsi1pk.set(queue_key(appointment.agency_id, CLOSED)),
            Case.last_activity_at.set(stamp),
            Case.version.add(1),
        ],
        tag="case",
        condition=Case.pk.exists(),
    )
    transaction.update(
        CitizenCase(citizen_key(appointment.citizen_id), case_key(appointment.case_id)),
        [CitizenCase.status.set(CLOSED)],
        tag="citizen case",
    )


def _hold(appointment: Appointment) -> AppointmentHold | None:
    try:
        return AppointmentHold.get(
            citizen_key(appointment.citizen_id),
            hold_sort_key(appointment.agency_id, appointment.service),
        )
    except AppointmentHold.DoesNotExist:
        return None
