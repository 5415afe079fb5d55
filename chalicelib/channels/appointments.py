"""Appointments over HTTP: the public slot listing and booking form, and booking in a web chat.

A phone or email typed into the form is only a claim, as in a chat session: it lives
on a new provisional profile and never joins a verified identity by itself.
"""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.agencies import get_agency
from chalicelib.appointments import booking
from chalicelib.channels.chat import _ID_PATTERN, TOKEN_HEADER, ClaimedContact, _claimed_phone
from chalicelib.channels.http import body_as, json_response
from chalicelib.channels.validation import validate
from chalicelib.clock import parse_utc, utc_now
from chalicelib.errors import ValidationError
from chalicelib.journey import chat_sessions
from chalicelib.journey.models import CHAT, EMAIL, MESSENGER, SMS, WHATSAPP, Identity
from chalicelib.journey.references import format_reference
from chalicelib.observability import logger

# Channels a citizen may ask to be reminded on.
PREFERRED_CHANNELS = (WHATSAPP, SMS, EMAIL, MESSENGER, CHAT)
# The widest range one slot listing covers.
MAX_RANGE = timedelta(days=31)
DEFAULT_RANGE = timedelta(days=14)
_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SlotsQuery(_Request):
    service: str = Field(pattern=_NAME_PATTERN)
    office: str | None = Field(default=None, pattern=_NAME_PATTERN)
    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a UTC time with its offset, such as 2026-12-07T15:00:00Z")
        return value


class _Booking(_Request):
    service: str = Field(pattern=_NAME_PATTERN)
    office: str = Field(pattern=_NAME_PATTERN)
    starts_at: str = Field(min_length=1, max_length=40)
    preferred_channel: str | None = None

    @field_validator("preferred_channel")
    @classmethod
    def _known_channel(cls, value: str | None) -> str | None:
        if value is not None and value not in PREFERRED_CHANNELS:
            raise ValueError(f"expected one of {', '.join(PREFERRED_CHANNELS)}")
        return value


class FormBookingRequest(ClaimedContact, _Booking):
    agency_id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


class ChatBookingRequest(_Booking):
    pass


def list_slots(agency_id: str, query: dict | None) -> Any:
    agency = get_agency(agency_id)
    params = validate(SlotsQuery, dict(query or {}), prefix="query")
    start = params.start or utc_now()
    end = params.end or start + DEFAULT_RANGE
    if end - start > MAX_RANGE:
        raise ValidationError(
            f"query.to: the range may cover at most {MAX_RANGE.days} days", field="query.to"
        )
    slots = booking.list_slots(agency, params.service, params.office, start, end)
    logger.info("slots listed", extra={"agency": agency.agency_id, "count": len(slots)})
    return json_response({"agency_id": agency.agency_id, "slots": [vars(slot) for slot in slots]})


def book_from_form(raw_body: bytes | None) -> Any:
    request = body_as(FormBookingRequest, raw_body)
    agency = get_agency(request.agency_id)
    logger.append_keys(agency=agency.agency_id, channel=booking.WEB)
    phone = _claimed_phone(request.phone, agency.country)
    if phone is None and request.email is None:
        raise ValidationError("phone: give a phone or an email to be reminded at", field="phone")
    claims = tuple(
        Identity(kind, value, False)
        for kind, value in (("phone", phone), ("email", request.email))
        if value
    )
    booker = booking.Booker(
        channel=booking.WEB,
        language=agency.language_for(request.language),
        name=request.name,
        claims=claims,
        preferred_channel=request.preferred_channel,
    )
    return _book(agency, booker, request)


def book_from_chat(session_id: str, headers: Any, raw_body: bytes | None) -> Any:
    session = chat_sessions.authenticate(session_id, headers.get(TOKEN_HEADER))
    request = body_as(ChatBookingRequest, raw_body)
    agency = get_agency(session.agency_id)
    booker = booking.Booker(
        channel=CHAT,
        language=session.language,
        citizen_id=session.citizen_id,
        session_id=session.session_id,
        preferred_channel=request.preferred_channel,
    )
    return _book(agency, booker, request)


def _book(agency: Any, booker: booking.Booker, request: _Booking) -> Any:
    starts_at = _utc_time(request.starts_at)
    booked = booking.book(agency, booker, request.service, request.office, starts_at)
    body = {
        "case_reference": format_reference(booked.reference),
        "service": booked.service,
        "office": booked.office,
        "starts_at": booked.starts_at,
        "ends_at": booked.ends_at,
        "status": booked.status,
        "reminder_at": booked.reminder_at,
        "message": booked.text,
    }
    return json_response(body, 201)


def _utc_time(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as error:
        raise ValidationError(
            "starts_at: expected a slot's UTC start time, such as 2026-12-07T15:00:00.000Z",
            field="starts_at",
        ) from error
