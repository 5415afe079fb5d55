"""Models of the messages every channel adapter hands to the journey service."""

from dataclasses import dataclass
from datetime import datetime

from chalicelib.agencies import AgencyConfig

# Channel names as stored on contacts and cases.
CHAT = "chat"
SMS = "sms"
VOICE = "voice"
WHATSAPP = "whatsapp"
MESSENGER = "messenger"
EMAIL = "email"
# A chat of an Amazon Connect instance: its contact flow and its streamed messages.
CONNECT_CHAT = "connect_chat"

# Case statuses. A message joins a case only while it is in OPEN_STATUSES.
OPEN = "open"
WAITING_CITIZEN = "waiting_citizen"
RESOLVED = "resolved"
CLOSED = "closed"
OPEN_STATUSES = (OPEN, WAITING_CITIZEN)


@dataclass(frozen=True)
class Identity:
    """A way to reach a citizen, normalized, and whether the channel proved it."""

    kind: str
    value: str
    verified: bool


@dataclass(frozen=True)
class InboundMessage:
    """A citizen's message from any channel, free of its wire format."""

    agency: AgencyConfig
    channel: str
    # The channel's own id of the event, already scoped (a chat key includes
    # its session), so that redeliveries map to one dedupe marker.
    external_id: str
    body: str
    occurred_at: datetime
    # The sender as the channel identifies them; None when a chat session
    # already names the citizen.
    sender: Identity | None = None
    citizen_id: str | None = None
    session_id: str | None = None
    # A case the channel already belongs to, such as a chat session's case.
    channel_case_id: str | None = None
    channel_case_reference: str | None = None
    # The language the citizen chose on this channel, if any.
    language: str | None = None
    # What the message carries beyond text: "text", "button", "location",
    # "media", "reaction" or "unsupported", with its details in `content`
    # (media id and mime type, coordinates, a button's payload...).
    content_kind: str = "text"
    content: dict | None = None
    # The channel's id of the earlier message this one answers, if any.
    reply_to_external_id: str | None = None
    # The sender's name as the channel shows it (a WhatsApp profile name).
    display_name: str | None = None
    # More identities of the same sender, such as the business-scoped user id that
    # WhatsApp sends beside the phone-based wa_id. Verified ones are linked to the
    # sender's citizen.
    other_identities: tuple[Identity, ...] = ()
    # The id that replies to this message quote (an email's Message-ID). It is
    # recorded as a pointer to the case the message joins, unless a pointer exists.
    thread_id: str | None = None
    # True when an `EMAILREF#<thread_id>` pointer exists already, so none is written.
    thread_id_recorded: bool = False


@dataclass(frozen=True)
class InboundResult:
    """The citizen, case and contact an inbound message was recorded on."""

    contact_id: str
    citizen_id: str
    # None for a message that opened no case, such as a consent keyword.
    case_id: str | None
    case_reference: str | None
    case_opened: bool
    duplicate: bool
    language: str
