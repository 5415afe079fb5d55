"""Messenger Platform webhooks: `{"object": "page", "entry": [{"id", "time", "messaging": [...]}]}`.

Every messaging event names the sender and recipient by id and carries one of
`message`, `postback`, `reaction`, `delivery` or `read`. A person is identified by their
page-scoped id (PSID). Meta batches events of several pages and times in one delivery.

The page's own messages come back as messages with `is_echo`, sent by the page to the
PSID. They are returned as echoes, apart from the citizen's messages. Quick replies and
postbacks become content kind "button" with `payload` and `title`, as WhatsApp buttons do.
Events of other kinds (opt-ins, referrals, handover) and `standby` lists are skipped.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.validation import InvalidItem, invalid_item, validate
from chalicelib.errors import ValidationError
from chalicelib.journey.models import Identity, InboundMessage

MESSENGER = "messenger"
WEBHOOK_OBJECT = "page"
MEDIA_TYPES = ("image", "audio", "video", "file")

DELIVERY = "delivery"
READ = "read"


def _epoch_milliseconds(value: Any) -> datetime:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise ValueError("expected epoch milliseconds as an integer, such as 1733300000000")
    try:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("epoch milliseconds are out of range") from None


EpochMilliseconds = Annotated[datetime, BeforeValidator(_epoch_milliseconds)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Participant(_Wire):
    id: NonEmpty


class QuickReplyPayload(_Wire):
    payload: str


class AttachmentContent(_Wire):
    url: str | None = None
    title: str | None = None
    sticker_id: int | None = None


class AttachmentPayload(_Wire):
    type: NonEmpty
    payload: AttachmentContent | None = None


class ReplyToPayload(_Wire):
    mid: str | None = None


class MessagePayload(_Wire):
    mid: NonEmpty
    text: str | None = None
    quick_reply: QuickReplyPayload | None = None
    attachments: list[AttachmentPayload] = []
    reply_to: ReplyToPayload | None = None
    is_echo: bool = False
    app_id: int | str | None = None
    metadata: str | None = None


class PostbackPayload(_Wire):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None


class ReactionPayload(_Wire):
    mid: NonEmpty
    reaction: str | None = None
    emoji: str | None = None
    action: str | None = None


class DeliveryPayload(_Wire):
    mids: list[str] = []
    watermark: EpochMilliseconds


class ReadPayload(_Wire):
    watermark: EpochMilliseconds


class EventPayload(_Wire):
    sender: Participant
    recipient: Participant
    # Delivery events may come without one, but every other kind must have it.
    timestamp: EpochMilliseconds | None = None
    message: MessagePayload | None = None
    postback: PostbackPayload | None = None
    reaction: ReactionPayload | None = None
    delivery: DeliveryPayload | None = None
    read: ReadPayload | None = None


class EntryPayload(_Wire):
    id: NonEmpty
    time: int | None = None
    # Each event is validated as EventPayload on its own, so an invalid one is skipped.
    messaging: list[Any] = []


class WebhookPayload(_Wire):
    object: Literal["page"]
    # Each entry is validated as EntryPayload on its own, so an invalid one is skipped.
    entry: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class MessengerMessage:
    """A message, postback or reaction a person sent to a page."""

    page_id: str
    psid: str
    # The mid, or for postbacks and reactions without one, an id built from the event.
    message_id: str
    timestamp: datetime
    # "text", "button", "media", "reaction" or "unsupported".
    content_kind: str
    content: dict
    text: str | None
    reply_to: str | None

    @property
    def identity(self) -> Identity:
        return Identity(MESSENGER, self.psid, verified=True)


@dataclass(frozen=True)
class MessengerEcho:
    """A message the page sent, from this app or any other, as Meta echoes it back."""

    page_id: str
    psid: str
    message_id: str
    timestamp: datetime
    text: str | None
    app_id: str | None
    metadata: str | None


@dataclass(frozen=True)
class MessengerReceipt:
    """A delivery or read watermark: every page message sent before it was delivered or read."""

    kind: str
    page_id: str
    psid: str
    watermark: datetime
    # The delivered messages' ids, when Meta lists them. Read receipts never list them.
    message_ids: tuple[str, ...]
    timestamp: datetime | None


@dataclass(frozen=True)
class MessengerBatch:
    """Everything one webhook delivery carries, in delivery order within each list."""

    messages: tuple[MessengerMessage, ...] = ()
    echoes: tuple[MessengerEcho, ...] = ()
    receipts: tuple[MessengerReceipt, ...] = ()
    # Events of kinds this module does not handle, such as opt-ins and referrals.
    skipped: int = 0
    # Entries and events that failed validation and were left out.
    invalid: tuple[InvalidItem, ...] = ()


def parse_webhook(payload: Any) -> MessengerBatch:
    """Normalize a Messenger webhook body that was already JSON-decoded.

    An invalid entry or event is left out and listed in `invalid`, because Meta resends a
    rejected delivery unchanged and the valid events in it would never be recorded.
    Raises ValidationError only for an invalid envelope: not an object, a wrong `object`,
    or no `entry` list.
    """
    webhook = validate(WebhookPayload, payload)
    messages: list[MessengerMessage] = []
    echoes: list[MessengerEcho] = []
    receipts: list[MessengerReceipt] = []
    invalid: list[InvalidItem] = []
    skipped = 0
    for entry_index, raw_entry in enumerate(webhook.entry):
        entry_path = f"entry[{entry_index}]"
        try:
            entry = validate(EntryPayload, raw_entry, prefix=entry_path)
        except ValidationError as error:
            invalid.append(invalid_item(error, entry_path))
            continue
        for event_index, raw_event in enumerate(entry.messaging):
            path = f"{entry_path}.messaging[{event_index}]"
            try:
                event = validate(EventPayload, raw_event, prefix=path)
                if event.message is not None and event.message.is_echo:
                    echoes.append(_echo(entry.id, event, path))
                elif event.message or event.postback or event.reaction:
                    messages.append(_message(entry.id, event, path))
                elif event.delivery or event.read:
                    receipts.append(_receipt(entry.id, event))
                else:
                    skipped += 1
            except ValidationError as error:
                invalid.append(invalid_item(error, path))
    return MessengerBatch(tuple(messages), tuple(echoes), tuple(receipts), skipped, tuple(invalid))


def render_body(message: MessengerMessage) -> str:
    """Return the text, or a short text rendering for the timeline of other kinds."""
    content = message.content
    kind = message.content_kind
    if kind == "text":
        return message.text or ""
    if kind == "button":
        return content["title"] or content["payload"] or "[button]"
    if kind == "reaction":
        return "[reaction removed]" if content["removed"] else f"[reaction] {content['emoji']}"
    if kind == "media":
        types = ", ".join(attachment["type"] for attachment in content["attachments"])
        return f"[{types}]"
    return f"[unsupported {content['type']}]"


def to_inbound(message: MessengerMessage, agency: AgencyConfig) -> InboundMessage:
    """Build the journey's InboundMessage for a person's message to a page."""
    return InboundMessage(
        agency=agency,
        channel=MESSENGER,
        external_id=message.message_id,
        body=render_body(message),
        occurred_at=message.timestamp,
        sender=message.identity,
        content_kind=message.content_kind,
        content=dict(message.content) or None,
        reply_to_external_id=message.reply_to,
    )


def _message(page_id: str, event: EventPayload, path: str) -> MessengerMessage:
    timestamp = _required_timestamp(event, path)
    psid = event.sender.id
    if event.message is not None:
        message_id = event.message.mid
        kind, content, text = _message_content(event.message)
        reply_to = event.message.reply_to.mid if event.message.reply_to else None
    elif event.postback is not None:
        message_id = event.postback.mid or _event_id("postback", psid, timestamp)
        kind, text, reply_to = "button", None, None
        content = {
            "source": "postback",
            "payload": event.postback.payload,
            "title": event.postback.title,
        }
    else:
        reaction = event.reaction
        message_id = _event_id("reaction", psid, timestamp, reaction.mid)
        kind, text, reply_to = "reaction", None, reaction.mid
        content = _reaction_content(reaction)
    return MessengerMessage(
        page_id=page_id,
        psid=psid,
        message_id=message_id,
        timestamp=timestamp,
        content_kind=kind,
        content=content,
        text=text,
        reply_to=reply_to,
    )


def _message_content(message: MessagePayload) -> tuple[str, dict, str | None]:
    if message.quick_reply is not None:
        content = {"source": "quick_reply", "payload": message.quick_reply.payload}
        return "button", {**content, "title": message.text}, None
    if message.attachments:
        attachments = [
            {"type": item.type, "url": item.payload.url if item.payload else None}
            for item in message.attachments
        ]
        if any(item["type"] in MEDIA_TYPES for item in attachments):
            return "media", {"attachments": attachments}, message.text
        return "unsupported", {"type": attachments[0]["type"]}, message.text
    if message.text is not None:
        return "text", {}, message.text
    return "unsupported", {"type": "message"}, None


def _reaction_content(reaction: ReactionPayload) -> dict:
    removed = reaction.action == "unreact"
    return {
        "message_id": reaction.mid,
        "emoji": None if removed else reaction.emoji,
        "reaction": reaction.reaction,
        "removed": removed,
    }


def _echo(page_id: str, event: EventPayload, path: str) -> MessengerEcho:
    message = event.message
    return MessengerEcho(
        page_id=page_id,
        psid=event.recipient.id,
        message_id=message.mid,
        timestamp=_required_timestamp(event, path),
        text=message.text,
        app_id=str(message.app_id) if message.app_id is not None else None,
        metadata=message.metadata,
    )


def _receipt(page_id: str, event: EventPayload) -> MessengerReceipt:
    if event.delivery is not None:
        kind, watermark, mids = DELIVERY, event.delivery.watermark, event.delivery.mids
    else:
        kind, watermark, mids = READ, event.read.watermark, []
    return MessengerReceipt(
        kind=kind,
        page_id=page_id,
        psid=event.sender.id,
        watermark=watermark,
        message_ids=tuple(mids),
        timestamp=event.timestamp,
    )


def _required_timestamp(event: EventPayload, path: str) -> datetime:
    if event.timestamp is None:
        raise ValidationError(f"{path}.timestamp: is required", field=f"{path}.timestamp")
    return event.timestamp


def _event_id(kind: str, psid: str, timestamp: datetime, *parts: str) -> str:
    """Build a stable id for an event that has no mid, so a redelivery gets the same id."""
    milliseconds = round(timestamp.timestamp() * 1000)
    return ":".join((kind, psid, str(milliseconds), *parts))
