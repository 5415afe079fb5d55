"""A Connect chat on the citizen's timeline: messages both ways, and the chat's own contact.

Who the citizen is. The streamed messages carry neither the customer endpoint nor the
contact's attributes. A chat is therefore known by its conversation identity,
`connect_chat` / InitialContactId, which every contact of the chat shares, transfers
included. Connect assigns that id and only the chat's participants post under it, so,
like a Messenger PSID, it is an identity the channel verified: its owner link
`IDENTITY#connect_chat#<InitialContactId>` / `LINK` names the citizen. When the chat's
contact flow ran identify (`connect_contact_flow`, whose event has the customer
endpoint) and found a citizen, identify wrote that link. Otherwise the chat's first
streamed message or event writes it, on a profile of its own that no other channel
reaches. The link has one key per chat, so two first messages delivered at once end on
one profile. A quoted case reference joins the chat to the case as on other channels.

What is recorded:
- the customer's messages, through the journey service like every inbound channel:
  deduplicated on the message `Id` (the customer's own messages come back on the
  stream), attached to the case the link remembers or to a new one;
- the agents' messages (kind "reply") and the flow's or a bot's (kind "notice") as
  outbound contacts, deduplicated on their `Id` too, on the conversation's case;
- the chat's milestones as actions of the chat's one contact, the contact the flow's
  actions use (`EVENT#voice#<InitialContactId>`), so that a redelivered event changes
  nothing.
"""

from dataclasses import dataclass
from datetime import datetime

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import DuplicateEventError
from chalicelib.journey import calls
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import CONNECT_CHAT, Identity, InboundMessage, InboundResult
from chalicelib.journey.records import (
    contact_id_for,
    new_contact,
    new_id,
    new_link,
    new_marker,
    new_profile,
)
from chalicelib.observability import logger
from chalicelib.store.models import Case, IdentityLink, case_key, identity_key
from chalicelib.store.transactions import Transaction, TransactionConflictError

# The outbound contact's kind for each participant role that writes to the customer.
OUTBOUND_KINDS = {"AGENT": "reply", "SYSTEM": "notice", "CUSTOM_BOT": "notice"}
DELIVERED = "delivered"


@dataclass(frozen=True)
class ChatText:
    """One text message of a Connect chat, free of the stream's format."""

    agency: AgencyConfig
    # The chat's InitialContactId, shared by every contact of the chat.
    conversation_id: str
    message_id: str
    text: str
    occurred_at: datetime


def conversation_identity(conversation_id: str) -> Identity:
    return Identity(CONNECT_CHAT, conversation_id, verified=True)


def record_customer_text(chat: ChatText) -> InboundResult:
    """Record the customer's message once, on the conversation's citizen and case."""
    result = record_inbound(
        InboundMessage(
            agency=chat.agency,
            channel=CONNECT_CHAT,
            external_id=chat.message_id,
            body=chat.text,
            occurred_at=chat.occurred_at,
            sender=conversation_identity(chat.conversation_id),
        )
    )
    logger.info(
        "chat message recorded",
        extra={
            "citizen_id": result.citizen_id,
            "case_id": result.case_id,
            "case_opened": result.case_opened,
            "duplicate": result.duplicate,
        },
    )
    return result


def record_outbound_text(chat: ChatText, kind: str) -> bool:
    """Record a message an agent, the flow or a bot wrote in the chat; False for a duplicate."""
    now = utc_now()
    link = _conversation_link(chat.agency, chat.conversation_id, now)
    entry = (link.open_cases.as_dict() if link.open_cases else {}).get(chat.agency.agency_id)
    case_id = entry.get("case_id") if entry else None

    contact = new_contact(
        contact_id=contact_id_for(CONNECT_CHAT, chat.message_id),
        citizen_id=link.citizen_id,
        agency_id=chat.agency.agency_id,
        channel=CONNECT_CHAT,
        direction="outbound",
        kind=kind,
        occurred_at=chat.occurred_at,
        now=now,
        body=chat.text,
        case_id=case_id,
        case_reference=entry.get("reference") if entry else None,
        external_id=chat.message_id,
        identity_kind=CONNECT_CHAT,
        identity_verified=True,
        delivery_status=DELIVERED,
    )
    transaction = Transaction()
    transaction.put_new(contact, tag="contact")
    transaction.put_new(new_marker(CONNECT_CHAT, chat.message_id, contact, now), tag="dedupe")
    if case_id is not None:
        stamp = isoformat_z(chat.occurred_at)
        transaction.update(
            Case(case_key(case_id), "CASE"),
            [Case.last_activity_at.set(stamp), Case.contact_count.add(1)],
            tag="case",
            condition=Case.agency_id == chat.agency.agency_id,
        )

    try:
        transaction.commit()
    except DuplicateEventError:
        logger.info("duplicate event ignored", extra={"citizen_id": link.citizen_id})
        return False
    logger.info(
        "chat reply recorded",
        extra={"citizen_id": link.citizen_id, "case_id": case_id, "kind": kind},
    )
    return True


def record_event(agency: AgencyConfig, conversation_id: str, action: str) -> None:
    """Add a milestone, such as "agent_joined", to the chat's contact, creating it if needed."""
    link = _conversation_link(agency, conversation_id, utc_now())
    call = calls.Call(
        agency=agency,
        call_id=conversation_id,
        channel=CONNECT_CHAT,
        caller=None,
        language_hint=None,
    )
    calls.record_call(call, link.citizen_id, action)


def _conversation_link(agency: AgencyConfig, conversation_id: str, now: datetime) -> IdentityLink:
    """Return the conversation's owner link, creating it on a profile of its own if needed."""
    key = identity_key(CONNECT_CHAT, conversation_id)
    try:
        return IdentityLink.get(key, "LINK")
    except IdentityLink.DoesNotExist:
        pass
    citizen_id = new_id()
    language = agency.default_language
    identity = conversation_identity(conversation_id)
    link = new_link(CONNECT_CHAT, conversation_id, citizen_id, CONNECT_CHAT, language, now)
    transaction = Transaction()
    transaction.put_new(
        new_profile(
            citizen_id, language, CONNECT_CHAT, provisional=False, now=now, identities=[identity]
        ),
        tag="profile",
    )
    transaction.put_new(link, tag="identity link")
    try:
        transaction.commit()
    except TransactionConflictError:
        # A message of the same chat created the link first: that one stays.
        return IdentityLink.get(key, "LINK")
    logger.info("chat conversation opened", extra={"citizen_id": citizen_id})
    return link
