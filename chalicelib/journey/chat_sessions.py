"""Web chat sessions: opening one, proving the browser owns it, reading its messages."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ForbiddenError, NotFoundError, UnauthorizedError, ValidationError
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import CHAT, Identity, InboundMessage, InboundResult
from chalicelib.journey.records import new_claim, new_id, new_profile
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.models import ChatMessage, ChatSession, chat_key
from chalicelib.store.transactions import Transaction

SESSION_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
# A message cursor is the sort key of a message without its `MSG#` prefix.
CURSOR_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{32}$")


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    token: str
    citizen_id: str
    language: str
    expires_at: str


@dataclass(frozen=True)
class SessionMessage:
    message_id: str
    cursor: str
    direction: str
    author: str
    text: str
    sent_at: str


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    agency: AgencyConfig,
    *,
    name: str | None,
    phone: str | None,
    email: str | None,
    language: str | None,
) -> OpenedSession:
    """Open a chat on a new provisional profile; typed phone and email are only claims."""
    if not agency.chat_enabled:
        raise ForbiddenError(f"web chat is not enabled for agency {agency.agency_id!r}")
    now = utc_now()
    language = agency.language_for(language)
    citizen_id = new_id()
    session_id = new_id()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=get_settings().chat_session_ttl_days)
    first_name = name.split()[0] if name else None

    transaction = Transaction()
    claims = [Identity(kind, value, False) for kind, value in (("phone", phone), ("email", email))]
    claims = [claim for claim in claims if claim.value]
    profile = new_profile(
        citizen_id,
        language,
        CHAT,
        provisional=True,
        now=now,
        first_name=first_name,
        full_name=name,
        identities=claims,
    )
    transaction.put_new(profile, tag="profile")
    for claim in claims:
        transaction.put(
            new_claim(claim.kind, claim.value, citizen_id, CHAT, language, now), tag="claim"
        )
    transaction.put_new(
        ChatSession(
            chat_key(session_id),
            "SESSION",
            session_id=session_id,
            agency_id=agency.agency_id,
            citizen_id=citizen_id,
            token_sha256=_token_digest(token),
            language=language,
            created_at=isoformat_z(now),
            expires_at=expires,
        ),
        tag="chat session",
    )
    transaction.commit()
    logger.info("chat session opened", extra={"citizen_id": citizen_id, "session_id": session_id})
    return OpenedSession(session_id, token, citizen_id, language, isoformat_z(expires))


def authenticate(session_id: str, token: str | None) -> ChatSession:
    """Return the session if `token` is its secret; raises NotFoundError or UnauthorizedError."""
    # Session ids are 32 hex digits, so anything else is not looked up at all.
    if not SESSION_ID_PATTERN.match(session_id):
        raise NotFoundError("chat session not found", field="session_id")
    try:
        session = ChatSession.get(chat_key(session_id), "SESSION")
    except ChatSession.DoesNotExist as error:
        raise NotFoundError("chat session not found", field="session_id") from error
    if session.expires_at is not None and session.expires_at <= utc_now():
        raise NotFoundError("chat session has expired; open a new one", field="session_id")
    if not token:
        raise UnauthorizedError("missing X-Session-Token header", field="X-Session-Token")
    if not hmac.compare_digest(session.token_sha256, _token_digest(token)):
        raise UnauthorizedError("invalid session token", field="X-Session-Token")
    logger.append_keys(agency=session.agency_id, citizen_id=session.citizen_id, channel=CHAT)
    return session


def post_message(
    agency: AgencyConfig, session: ChatSession, text: str, idempotency_key: str
) -> InboundResult:
    """Record a citizen's chat message once per idempotency key."""
    return record_inbound(
        InboundMessage(
            agency=agency,
            channel=CHAT,
            external_id=f"{session.session_id}#{idempotency_key}",
            body=text,
            occurred_at=utc_now(),
            citizen_id=session.citizen_id,
            session_id=session.session_id,
            channel_case_id=session.case_id,
            channel_case_reference=session.case_reference,
            language=session.language,
        )
    )


def list_messages(session: ChatSession, after: str | None, limit: int) -> list[SessionMessage]:
    """Return the session's messages in order, starting after the cursor `after`."""
    if after is not None and not CURSOR_PATTERN.match(after):
        raise ValidationError(
            "after must be a cursor returned by this endpoint, such as next_after", field="after"
        )
    # `between` keeps the range inside MSG# items; the session item sorts after them.
    start = f"MSG#{after}" if after else "MSG#"
    condition = ChatMessage.sk.between(start, "MSG#~")
    items = [
        item
        for item in ChatMessage.query(chat_key(session.session_id), condition, limit=limit + 1)
        if item.sk != start
    ][:limit]
    return [
        SessionMessage(
            message_id=item.message_id,
            cursor=item.sk.removeprefix("MSG#"),
            direction=item.direction,
            author=item.author,
            text=item.body,
            sent_at=item.sent_at,
        )
        for item in items
    ]
