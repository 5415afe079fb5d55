"""Web chat HTTP API: a browser opens a session, posts messages and polls for replies."""

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.agencies import get_agency
from chalicelib.channels.http import body_as, json_response
from chalicelib.channels.validation import validate
from chalicelib.errors import ValidationError
from chalicelib.identity.phones import PhoneNumberError, normalize_phone
from chalicelib.journey import chat_sessions
from chalicelib.journey.prompts import LANGUAGES
from chalicelib.journey.references import format_reference
from chalicelib.observability import logger

TOKEN_HEADER = "x-session-token"  # noqa: S105 - a header name, not a secret
IDEMPOTENCY_HEADER = "idempotency-key"
MAX_MESSAGE_LENGTH = 4000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Deliberately loose: one @, no spaces, a dot in the domain. A typed email is
# only a claim, so delivery is the real check.
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClaimedContact(_Request):
    """The phone, email and language a citizen types into a web page, which are only claims."""

    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"expected one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _EMAIL_PATTERN.match(value):
            raise ValueError("expected an email address such as name@example.org")
        return value.lower()


class OpenSessionRequest(ClaimedContact):
    agency_id: str = Field(pattern=_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)


class PostMessageRequest(_Request):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)
    idempotency_key: str | None = None


class ListMessagesQuery(_Request):
    after: str | None = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


def open_session(raw_body: bytes | None) -> Any:
    request = body_as(OpenSessionRequest, raw_body)
    agency = get_agency(request.agency_id)
    logger.append_keys(agency=agency.agency_id, channel="chat")
    phone = _claimed_phone(request.phone, agency.country)
    session = chat_sessions.open_session(
        agency, name=request.name, phone=phone, email=request.email, language=request.language
    )
    body = {
        "session_id": session.session_id,
        "session_token": session.token,
        "agency_id": agency.agency_id,
        "language": session.language,
        "expires_at": session.expires_at,
    }
    return json_response(body, 201)


def post_message(session_id: str, headers: Any, raw_body: bytes | None) -> Any:
    session = chat_sessions.authenticate(session_id, headers.get(TOKEN_HEADER))
    request = body_as(PostMessageRequest, raw_body)
    key = _idempotency_key(request.idempotency_key or headers.get(IDEMPOTENCY_HEADER))
    agency = get_agency(session.agency_id)
    result = chat_sessions.post_message(agency, session, request.text, key)
    logger.info(
        "chat message recorded",
        extra={"case_id": result.case_id, "duplicate": result.duplicate},
    )
    body = {
        "message_id": result.contact_id,
        "case_reference": format_reference(result.case_reference),
        "case_opened": result.case_opened,
        "duplicate": result.duplicate,
    }
    return json_response(body, 200 if result.duplicate else 201)


def list_messages(session_id: str, headers: Any, query: dict | None) -> Any:
    session = chat_sessions.authenticate(session_id, headers.get(TOKEN_HEADER))
    params = validate(ListMessagesQuery, dict(query or {}), prefix="query")
    messages = chat_sessions.list_messages(session, params.after, params.limit)
    logger.info("chat messages listed", extra={"count": len(messages)})
    body = {
        "messages": [
            {
                "message_id": message.message_id,
                "direction": message.direction,
                "author": message.author,
                "text": message.text,
                "sent_at": message.sent_at,
                "cursor": message.cursor,
            }
            for message in messages
        ],
        "next_after": messages[-1].cursor if messages else params.after,
    }
    return json_response(body)


def _claimed_phone(raw: str | None, country: str) -> str | None:
    if not raw:
        return None
    try:
        return normalize_phone(raw, country)
    except (PhoneNumberError, ValueError) as error:
        raise ValidationError(f"phone: {error}", field="phone") from error


def _idempotency_key(key: str | None) -> str:
    if not key:
        raise ValidationError(
            "idempotency_key is required, in the body or the Idempotency-Key header",
            field="idempotency_key",
        )
    if not _KEY_PATTERN.match(key):
        raise ValidationError(
            "idempotency_key: expected 1 to 128 letters, digits or . _ : -",
            field="idempotency_key",
        )
    return key
