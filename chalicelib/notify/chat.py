"""Messages shown in a web chat session, written inside the caller's transaction."""

from datetime import datetime, timedelta

from chalicelib.clock import isoformat_z
from chalicelib.journey.records import new_contact, new_id
from chalicelib.settings import get_settings
from chalicelib.store.models import ChatMessage, chat_key
from chalicelib.store.transactions import Transaction


def message_sort_key(sent_at: datetime, message_id: str) -> str:
    return f"MSG#{isoformat_z(sent_at)}#{message_id}"


def add_message(
    transaction: Transaction,
    session_id: str,
    message_id: str,
    direction: str,
    author: str,
    body: str,
    sent_at: datetime,
) -> None:
    """Add one message to what the session's browser reads."""
    ttl = timedelta(days=get_settings().chat_session_ttl_days)
    transaction.put_new(
        ChatMessage(
            chat_key(session_id),
            message_sort_key(sent_at, message_id),
            message_id=message_id,
            direction=direction,
            author=author,
            body=body,
            sent_at=isoformat_z(sent_at),
            expires_at=sent_at + ttl,
        ),
        tag="chat message",
    )


def add_notice(
    transaction: Transaction,
    *,
    agency_id: str,
    session_id: str,
    citizen_id: str,
    text: str,
    case_id: str,
    case_reference: str,
    reply_to: str,
    now: datetime,
) -> None:
    """Send an automatic notice to a chat and record it on the timeline.

    The notice is stamped one millisecond after `now` so that it sorts after
    the message it answers, whose time is `now`.
    """
    sent_at = now + timedelta(milliseconds=1)
    contact = new_contact(
        contact_id=new_id(),
        citizen_id=citizen_id,
        agency_id=agency_id,
        channel="chat",
        direction="outbound",
        kind="notice",
        occurred_at=sent_at,
        now=now,
        body=text,
        case_id=case_id,
        case_reference=case_reference,
        external_id=reply_to,
        session_id=session_id,
        delivery_status="delivered",
    )
    transaction.put_new(contact, tag="notice contact")
    add_message(transaction, session_id, contact.contact_id, "outbound", "system", text, sent_at)
