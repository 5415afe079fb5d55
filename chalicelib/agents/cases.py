"""Read a case and reply to the citizen on the case's channel.

Replies reach web chat only for now: the reply is added to the chat session that
opened the case, where the browser reads it, and is recorded on the timeline.
A reply, its dedupe marker and the case update are one transaction, so a retry
with the same idempotency key sends nothing twice.
"""

from dataclasses import dataclass

from chalicelib.agents.access import Agent, HiddenError
from chalicelib.agents.schemas import CaseView, ReplyResult
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ConflictError, DuplicateEventError, NotFoundError
from chalicelib.journey.models import CHAT
from chalicelib.journey.records import contact_id_for, new_contact, new_marker
from chalicelib.journey.references import format_reference
from chalicelib.notify import chat as chat_outbox
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    ChatSession,
    Contact,
    DedupeMarker,
    case_key,
    chat_key,
    citizen_key,
    event_key,
)
from chalicelib.store.transactions import DEDUPE, Transaction

# Dedupe channel of agents' replies, whose external id is `<case id>#<idempotency key>`.
REPLY_EVENTS = "agent_reply"
# Channels whose replies are delivered today.
REPLY_CHANNELS = frozenset({CHAT})


@dataclass(frozen=True)
class _Reply:
    contact: Contact
    duplicate: bool


def get_case(agent: Agent, case_id: str) -> CaseView:
    """Return a case of the agent's agency; raises NotFoundError for any other case."""
    return _view(_visible_case(agent, case_id))


def reply(agent: Agent, case_id: str, text: str, idempotency_key: str) -> ReplyResult:
    """Send an agent's reply on the case's channel once per idempotency key.

    Raises NotFoundError for a case the agent may not see, and ConflictError when
    the case's channel cannot carry replies yet, its chat session is gone, or the
    key was already used for a different text.
    """
    case = _visible_case(agent, case_id)
    if case.channel not in REPLY_CHANNELS:
        raise ConflictError(
            f"replies on {case.channel} are not available yet; only web chat cases can be "
            "answered through this API",
            field="case_id",
        )
    session = _session_of(case)
    external_id = f"{case.case_id}#{idempotency_key}"
    try:
        sent = _send_chat_reply(agent, case, session, text, external_id)
    except DuplicateEventError:
        sent = _earlier_reply(external_id, text)
    logger.info(
        "agent reply recorded",
        extra={"case_id": case.case_id, "citizen_id": case.citizen_id, "duplicate": sent.duplicate},
    )
    return ReplyResult(
        contact_id=sent.contact.contact_id,
        case_id=case.case_id,
        case_reference=format_reference(case.reference),
        channel=sent.contact.channel,
        sent_at=sent.contact.occurred_at,
        duplicate=sent.duplicate,
    )


def _visible_case(agent: Agent, case_id: str) -> Case:
    agent.audit.case_id = case_id
    try:
        case = Case.get(case_key(case_id), "CASE")
    except Case.DoesNotExist as error:
        raise NotFoundError(f"case {case_id!r} not found", field="case_id") from error
    if case.agency_id != agent.agency_id:
        raise HiddenError(
            f"case {case_id!r} not found",
            audit_reason="case belongs to another agency",
            field="case_id",
        )
    agent.audit.citizen_id = case.citizen_id
    agent.audit.reason = "case belongs to the agent's agency"
    return case


def _session_of(case: Case) -> ChatSession:
    """Return the live chat session of a chat case; raises ConflictError when there is none."""
    if not case.session_id:
        raise ConflictError(
            f"case {case.case_id!r} has no chat session on record; replies need the session "
            "that opened the case",
            field="case_id",
        )
    try:
        session = ChatSession.get(chat_key(case.session_id), "SESSION")
    except ChatSession.DoesNotExist as error:
        raise ConflictError(
            f"the chat session of case {case.case_id!r} has ended", field="case_id"
        ) from error
    if session.expires_at is not None and session.expires_at <= utc_now():
        raise ConflictError(f"the chat session of case {case.case_id!r} has ended", field="case_id")
    return session


def _send_chat_reply(
    agent: Agent, case: Case, session: ChatSession, text: str, external_id: str
) -> _Reply:
    now = utc_now()
    stamp = isoformat_z(now)
    contact = new_contact(
        contact_id=contact_id_for(REPLY_EVENTS, external_id),
        citizen_id=case.citizen_id,
        agency_id=case.agency_id,
        channel=CHAT,
        direction="outbound",
        kind="reply",
        occurred_at=now,
        now=now,
        body=text,
        case_id=case.case_id,
        case_reference=case.reference,
        external_id=external_id,
        session_id=session.session_id,
        delivery_status="delivered",
        agent_id=agent.principal.subject,
    )
    transaction = Transaction()
    transaction.put_new(contact, tag="reply contact")
    transaction.put_new(new_marker(REPLY_EVENTS, external_id, contact, now), tag=DEDUPE)
    chat_outbox.add_message(
        transaction, session.session_id, contact.contact_id, "outbound", "agent", text, now
    )
    transaction.update(
        Case(case_key(case.case_id), "CASE"),
        [
            Case.last_activity_at.set(stamp),
            Case.last_channel.set(CHAT),
            Case.contact_count.add(1),
            Case.gsi1sk.set(f"{stamp}#{case.case_id}"),
        ],
        tag="case",
        condition=Case.agency_id == agent.agency_id,
    )
    transaction.commit()
    return _Reply(contact, duplicate=False)


def _earlier_reply(external_id: str, text: str) -> _Reply:
    """Return the reply an idempotency key already sent; raises ConflictError for other text."""
    marker = DedupeMarker.get(event_key(REPLY_EVENTS, external_id), "EVENT")
    contact = Contact.get(citizen_key(marker.citizen_id), marker.contact_sk)
    if contact.body != text:
        raise ConflictError(
            "idempotency_key was already used for a reply with different text; use a new key",
            field="idempotency_key",
        )
    return _Reply(contact, duplicate=True)


def _view(case: Case) -> CaseView:
    return CaseView(
        case_id=case.case_id,
        reference=format_reference(case.reference),
        agency_id=case.agency_id,
        citizen_id=case.citizen_id,
        status=case.status,
        channel=case.channel,
        last_channel=case.last_channel,
        subject=case.subject,
        opened_at=case.opened_at,
        last_activity_at=case.last_activity_at,
        contact_count=int(case.contact_count or 0),
        version=int(case.version or 1),
        replies_available=case.channel in REPLY_CHANNELS and bool(case.session_id),
    )
