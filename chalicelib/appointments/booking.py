"""Slots and bookings.

A booking is one TransactWriteItems call. The slot's `booked` count goes up by one on
the condition `booked < capacity`, so two citizens never get its last place. The same
transaction writes the appointment, the new case it belongs to, the citizen's hold on
the service, and the booking's contact on the timeline.

Each appointment opens its own case, whose reference is the appointment's reference.
Joining the citizen's open case instead would tie the appointment's reminder and
cancellation to a case that is about something else, and closing that case would
cancel the appointment.

A citizen holds at most one active appointment per service and agency: the hold item
is written on the condition that none exists, that the earlier one was cancelled, or
that its time has passed. A web form booking makes a new provisional profile every
time, because a typed phone or email is only a claim and claims never join
(an existing profile would also tell the typist that someone with that phone has an
appointment). So the rule binds chat sessions and profiles, not two web forms.
"""

from dataclasses import dataclass
from datetime import datetime

from chalicelib.agencies import AgencyConfig
from chalicelib.appointments import reminders, texts
from chalicelib.appointments.settings import AppointmentSettings, settings_of
from chalicelib.appointments.statuses import BOOKED
from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.journey.models import Identity
from chalicelib.journey.records import (
    new_case_items,
    new_claim,
    new_contact,
    new_id,
    new_profile,
)
from chalicelib.journey.references import format_reference, new_reference
from chalicelib.notify import chat as chat_outbox
from chalicelib.observability import logger
from chalicelib.store.models import (
    Appointment,
    AppointmentHold,
    AppointmentSlot,
    CitizenProfile,
    agency_key,
    appointment_queue_key,
    case_key,
    citizen_key,
    hold_sort_key,
    slot_sort_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

# The channel name of the public booking form, on contacts, cases and appointments.
WEB = "web"
# Attempts of one booking when its random case reference is already taken.
MAX_ATTEMPTS = 3
SLOT_TAG = "slot"
HOLD_TAG = "hold"
REFERENCE_TAG = "case reference"
# Slots one listing returns at most.
MAX_SLOTS = 200


@dataclass(frozen=True)
class SlotView:
    service: str
    office: str
    starts_at: str
    ends_at: str
    capacity: int
    available: int


@dataclass(frozen=True)
class Booker:
    """The person booking: their channel and language, and what the booking form claims."""

    channel: str
    language: str
    # The citizen of a chat session; None for a web form, which opens a provisional profile.
    citizen_id: str | None = None
    session_id: str | None = None
    name: str | None = None
    # The typed phone and email, kept as claims on the provisional profile.
    claims: tuple[Identity, ...] = ()
    preferred_channel: str | None = None


@dataclass(frozen=True)
class Booked:
    case_id: str
    reference: str
    citizen_id: str
    service: str
    office: str
    starts_at: str
    ends_at: str
    status: str
    # The confirmation that names the appointment and its reference, in the citizen's language.
    text: str
    reminder_at: str | None


def list_slots(
    agency: AgencyConfig, service: str, office: str | None, start: datetime, end: datetime
) -> list[SlotView]:
    """Return the slots of a service that start in [start, end), at one office or all of them."""
    settings = settings_of(agency)
    settings.check(service, office)
    if end <= start:
        raise ValidationError("query.to: must be later than query.from", field="query.to")
    low, high = isoformat_z(start), isoformat_z(end)
    if office is not None:
        condition = AppointmentSlot.sk.between(
            slot_sort_key(service, office, low), slot_sort_key(service, office, high)
        )
    else:
        # NOTE: without an office the Query reads every slot of the service, past ones
        # included, and filters by time; agencies with long calendars should pass office.
        condition = AppointmentSlot.sk.startswith(f"SLOT#{service}#")
    slots = AppointmentSlot.query(
        agency_key(agency.agency_id),
        condition,
        filter_condition=AppointmentSlot.starts_at.between(low, high),
    )
    views = [
        SlotView(
            service=slot.service,
            office=slot.office,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            capacity=int(slot.capacity),
            available=max(0, int(slot.capacity) - int(slot.booked or 0)),
        )
        for slot in slots
        if slot.starts_at < high
    ]
    return sorted(views, key=lambda view: (view.starts_at, view.office))[:MAX_SLOTS]


def book(
    agency: AgencyConfig, booker: Booker, service: str, office: str, starts_at: datetime
) -> Booked:
    """Book a place in a slot and open the appointment's case; then start its reminder.

    Raises ValidationError for an unknown service or office or a slot that has started,
    NotFoundError for a slot that does not exist, and ConflictError when the slot is
    full or the citizen already has an appointment for the service.
    """
    settings = settings_of(agency)
    settings.check(service, office)
    reminders.check_calendar(settings)
    slot = slot_of(agency, service, office, isoformat_z(starts_at))
    now = utc_now()
    if parse_utc(slot.starts_at) <= now:
        raise ValidationError("starts_at: the slot has already started", field="starts_at")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            appointment = _commit_booking(agency, settings, booker, slot, now)
            break
        except TransactionConflictError as error:
            _raise_conflict(error, booker, service, agency)
            if attempt == MAX_ATTEMPTS:
                raise
    logger.info(
        "appointment booked",
        extra={"case_id": appointment.case_id, "citizen_id": appointment.citizen_id},
    )
    reminder_at = reminders.start(agency, settings, appointment)
    return Booked(
        case_id=appointment.case_id,
        reference=appointment.reference,
        citizen_id=appointment.citizen_id,
        service=service,
        office=office,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=appointment.status,
        text=booked_text(agency, settings, appointment),
        reminder_at=reminder_at,
    )


def booked_text(
    agency: AgencyConfig, settings: AppointmentSettings, appointment: Appointment
) -> str:
    """Return the confirmation that names the appointment and its reference."""
    return texts.text(
        "booked",
        appointment.language,
        reference=format_reference(appointment.reference),
        service=settings.service_name(appointment.service, appointment.language),
        office=settings.office_name(appointment.office),
        when=texts.written_time(parse_utc(appointment.starts_at), agency.timezone),
    )


def slot_of(agency: AgencyConfig, service: str, office: str, starts_at: str) -> AppointmentSlot:
    """Return the slot of a service at an office and UTC start; raises NotFoundError."""
    try:
        return AppointmentSlot.get(
            agency_key(agency.agency_id), slot_sort_key(service, office, starts_at)
        )
    except AppointmentSlot.DoesNotExist as error:
        raise NotFoundError(
            f"no slot of {service!r} at {office!r} starts at {starts_at}", field="starts_at"
        ) from error


def _commit_booking(
    agency: AgencyConfig,
    settings: AppointmentSettings,
    booker: Booker,
    slot: AppointmentSlot,
    now: datetime,
) -> Appointment:
    """Write the booking in one transaction; raises TransactionConflictError naming the tags."""
    case_id, reference = new_id(), new_reference()
    citizen_id = booker.citizen_id or new_id()
    transaction = Transaction()
    if booker.citizen_id is None:
        _add_provisional_profile(transaction, booker, citizen_id, now)
    elif booker.preferred_channel:
        transaction.update(
            CitizenProfile(citizen_key(citizen_id), "PROFILE"),
            [
                CitizenProfile.preferred_channel.set(booker.preferred_channel),
                CitizenProfile.updated_at.set(isoformat_z(now)),
            ],
            tag="profile",
            condition=CitizenProfile.pk.exists(),
        )

    _add_place(transaction, slot, citizen_id, case_id, reference, now)
    subject = f"{settings.service_name(slot.service, booker.language)}, {slot.starts_at}"
    case, pointer, citizen_case = new_case_items(
        case_id,
        reference,
        agency.agency_id,
        citizen_id,
        booker.channel,
        subject,
        now,
        session_id=booker.session_id,
    )
    transaction.put_new(case, tag="case")
    transaction.put_new(pointer, tag=REFERENCE_TAG)
    citizen_case.appointment_starts_at = slot.starts_at
    transaction.put_new(citizen_case, tag="citizen case")
    appointment = _new_appointment(slot, booker, citizen_id, case_id, reference, now)
    transaction.put_new(appointment, tag="appointment")

    _add_booking_contacts(
        transaction, booker, appointment, booked_text(agency, settings, appointment), now
    )
    transaction.commit()
    return appointment


def _add_place(
    transaction: Transaction,
    slot: AppointmentSlot,
    citizen_id: str,
    case_id: str,
    reference: str,
    now: datetime,
) -> None:
    """Take one place in the slot and the citizen's hold on its service."""
    transaction.update(
        slot,
        [AppointmentSlot.booked.add(1)],
        tag=SLOT_TAG,
        condition=AppointmentSlot.pk.exists() & (AppointmentSlot.booked < AppointmentSlot.capacity),
    )
    hold = AppointmentHold(
        citizen_key(citizen_id),
        hold_sort_key(slot.agency_id, slot.service),
        case_id=case_id,
        reference=reference,
        starts_at=slot.starts_at,
        active=True,
    )
    transaction.put(
        hold,
        tag=HOLD_TAG,
        condition=AppointmentHold.pk.does_not_exist()
        | (AppointmentHold.active == False)  # noqa: E712 - pynamodb condition
        | (AppointmentHold.starts_at <= isoformat_z(now)),
    )


def _new_appointment(
    slot: AppointmentSlot,
    booker: Booker,
    citizen_id: str,
    case_id: str,
    reference: str,
    now: datetime,
) -> Appointment:
    stamp = isoformat_z(now)
    return Appointment(
        case_key(case_id),
        "APPOINTMENT",
        case_id=case_id,
        reference=reference,
        agency_id=slot.agency_id,
        citizen_id=citizen_id,
        service=slot.service,
        office=slot.office,
        slot_sk=slot.sk,
        starts_at=slot.starts_at,
        status=BOOKED,
        language=booker.language,
        booked_on=booker.channel,
        occurrence=1,
        created_at=stamp,
        updated_at=stamp,
        gsi1pk=appointment_queue_key(slot.agency_id, BOOKED),
        gsi1sk=f"{slot.starts_at}#{case_id}",
    )


def _add_booking_contacts(
    transaction: Transaction, booker: Booker, appointment: Appointment, text: str, now: datetime
) -> None:
    """Put the booking on the timeline, and its confirmation in the chat it came from."""
    contact = new_contact(
        contact_id=new_id(),
        citizen_id=appointment.citizen_id,
        agency_id=appointment.agency_id,
        channel=booker.channel,
        direction="inbound",
        kind="appointment",
        occurred_at=now,
        now=now,
        body=text,
        case_id=appointment.case_id,
        case_reference=appointment.reference,
        session_id=booker.session_id,
    )
    transaction.put_new(contact, tag="contact")
    if booker.session_id is None:
        return
    chat_outbox.add_notice(
        transaction,
        agency_id=appointment.agency_id,
        session_id=booker.session_id,
        citizen_id=appointment.citizen_id,
        text=text,
        case_id=appointment.case_id,
        case_reference=appointment.reference,
        reply_to=contact.contact_id,
        now=now,
    )


def _add_provisional_profile(
    transaction: Transaction, booker: Booker, citizen_id: str, now: datetime
) -> None:
    first_name = booker.name.split()[0] if booker.name else None
    profile = new_profile(
        citizen_id,
        booker.language,
        booker.channel,
        provisional=True,
        now=now,
        first_name=first_name,
        full_name=booker.name,
        identities=booker.claims,
    )
    profile.preferred_channel = booker.preferred_channel or booker.channel
    transaction.put_new(profile, tag="profile")
    for claim in booker.claims:
        item = new_claim(claim.kind, claim.value, citizen_id, booker.channel, booker.language, now)
        transaction.put(item, tag="claim")


def _raise_conflict(
    error: TransactionConflictError, booker: Booker, service: str, agency: AgencyConfig
) -> None:
    """Raise the ConflictError a citizen can act on; return when a retry may succeed."""
    if any(tag.startswith(SLOT_TAG) for tag in error.tags):
        raise ConflictError(
            "the slot is full or was just taken; choose another slot", field="starts_at"
        ) from error
    if any(tag.startswith(HOLD_TAG) for tag in error.tags):
        reference = _held_reference(booker.citizen_id, agency.agency_id, service)
        raise ConflictError(
            f"you already have an appointment for {service!r} ({reference}); "
            "cancel it, or ask the agency to reschedule it, before booking another",
            field="service",
        ) from error
    if not any(tag.startswith(REFERENCE_TAG) for tag in error.tags):
        raise error


def _held_reference(citizen_id: str | None, agency_id: str, service: str) -> str:
    if citizen_id is None:
        return "unknown reference"
    try:
        hold = AppointmentHold.get(citizen_key(citizen_id), hold_sort_key(agency_id, service))
    except AppointmentHold.DoesNotExist:
        return "unknown reference"
    return format_reference(hold.reference)
