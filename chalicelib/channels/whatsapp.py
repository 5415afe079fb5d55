"""WhatsApp Cloud API webhooks, from Meta directly or through AWS End User Messaging Social.

Meta posts `{"object": "whatsapp_business_account", "entry": [...]}`, and each entry's
`changes[].value` carries `metadata` (the business number), `contacts`, and `messages`,
`statuses` or `errors`. End User Messaging Social publishes one such entry per SNS
message, as a JSON string beside the account's ids. `parse_webhook` and
`parse_social_notification` unwrap the two envelopes and share one entry normalizer.

Messages are normalized to a content kind the journey understands. Every kind of button
(an interactive reply button, a list row, a template quick reply) becomes "button" with
`payload` (the id the business gave it) and `title` (the label the user saw).

This module only parses. Signatures are checked by `chalicelib.channels.meta` on the raw
body before any parsing, and mapping `phone_number_id` to an agency is the caller's job.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.validation import InvalidItem, invalid_item, parse_json, validate
from chalicelib.errors import ValidationError
from chalicelib.identity.phones import PhoneNumberError, normalize_phone
from chalicelib.journey.models import Identity, InboundMessage

WHATSAPP = "whatsapp"
# Identity kind of a business-scoped user id (BSUID) such as "US.13491208655302741918".
# Meta sends it beside the phone number, or instead of it for users with a username.
WHATSAPP_USER = "whatsapp_user"

WEBHOOK_OBJECT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"
MEDIA_TYPES = ("image", "audio", "document", "video", "sticker")

SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"

# Meta delivers statuses out of order, and "delivered" may never come when "read" does.
# "failed" outranks "sent", so a late "sent" never hides a failure. "delivered" and "read"
# outrank "failed", because they prove the message reached the user after all.
_STATUS_RANKS = {SENT: 1, FAILED: 2, DELIVERED: 3, READ: 4}


def _epoch_seconds(value: Any) -> datetime:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        raise ValueError("expected epoch seconds as a string of digits, such as '1733300000'")
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("epoch seconds are out of range") from None


EpochSeconds = Annotated[datetime, BeforeValidator(_epoch_seconds)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ErrorPayload(_Wire):
    code: int | None = None
    title: str | None = None
    message: str | None = None


class Profile(_Wire):
    name: str | None = None


class ContactPayload(_Wire):
    profile: Profile | None = None
    wa_id: str | None = None
    user_id: str | None = None


class Metadata(_Wire):
    display_phone_number: str | None = None
    phone_number_id: NonEmpty


class TextPayload(_Wire):
    body: str


class ReplyPayload(_Wire):
    id: str
    title: str
    description: str | None = None


class InteractivePayload(_Wire):
    type: str
    button_reply: ReplyPayload | None = None
    list_reply: ReplyPayload | None = None


class TemplateButtonPayload(_Wire):
    payload: str | None = None
    text: str


class LocationPayload(_Wire):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ReactionPayload(_Wire):
    message_id: NonEmpty
    # Meta sends an empty or missing emoji when the user removes their reaction.
    emoji: str | None = None


class MediaPayload(_Wire):
    id: NonEmpty
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None


class ContextPayload(_Wire):
    id: str | None = None


class MessagePayload(_Wire):
    sender: str | None = Field(default=None, alias="from")
    # NOTE: the BSUID field names (from_user_id here, user_id on contacts and
    # recipient_user_id on statuses) come from partner guides and published payloads of
    # Meta's 2026 username rollout, not from Meta's own webhook reference.
    from_user_id: str | None = None
    id: NonEmpty
    timestamp: EpochSeconds
    type: NonEmpty
    text: TextPayload | None = None
    interactive: InteractivePayload | None = None
    button: TemplateButtonPayload | None = None
    location: LocationPayload | None = None
    reaction: ReactionPayload | None = None
    image: MediaPayload | None = None
    audio: MediaPayload | None = None
    document: MediaPayload | None = None
    video: MediaPayload | None = None
    sticker: MediaPayload | None = None
    context: ContextPayload | None = None
    errors: list[ErrorPayload] = []


class StatusPayload(_Wire):
    id: NonEmpty
    status: NonEmpty
    timestamp: EpochSeconds
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: list[ErrorPayload] = []


class ValuePayload(_Wire):
    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[ContactPayload] = []
    # Validated one by one, so one invalid item is skipped and the rest are kept.
    messages: list[Any] = []
    statuses: list[Any] = []
    errors: list[ErrorPayload] = []


class ChangePayload(_Wire):
    field: str
    # Validated as ValuePayload only for the "messages" field, because other fields differ.
    value: dict[str, Any]


class EntryPayload(_Wire):
    id: NonEmpty
    # Each change is validated as ChangePayload on its own, so an invalid one is skipped.
    changes: list[Any] = []


class WebhookPayload(_Wire):
    object: Literal["whatsapp_business_account"]
    # Each entry is validated as EntryPayload on its own, so an invalid one is skipped.
    entry: list[Any] = Field(min_length=1)


class SocialWabaId(_Wire):
    wabaId: NonEmpty  # noqa: N815 - wire name
    arn: str | None = None


class SocialPhoneNumberId(_Wire):
    metaPhoneNumberId: NonEmpty  # noqa: N815 - wire name
    arn: str | None = None


class SocialContextPayload(_Wire):
    MetaWabaIds: list[SocialWabaId] = []
    MetaPhoneNumberIds: list[SocialPhoneNumberId] = []


class SocialNotificationPayload(_Wire):
    context: SocialContextPayload | None = None
    whatsAppWebhookEntry: NonEmpty  # noqa: N815 - wire name
    aws_account_id: str | None = None
    message_timestamp: str | None = None
    messageId: str | None = None  # noqa: N815 - wire name


@dataclass(frozen=True)
class WhatsAppError:
    """An error Meta reports on a message, a status or a whole change."""

    code: int | None
    title: str | None
    message: str | None = None


@dataclass(frozen=True)
class WhatsAppMessage:
    """One message a WhatsApp user sent to a business number."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    message_id: str
    timestamp: datetime
    # The type as Meta sent it, such as "interactive" or a type this module does not know.
    message_type: str
    # "text", "button", "location", "reaction", "media" or "unsupported".
    content_kind: str
    # Details of the content kind, empty for text.
    content: dict
    text: str | None
    # The sender's phone number as Meta sends it (digits, no "+"), and their BSUID.
    wa_id: str | None
    user_id: str | None
    profile_name: str | None
    # The id of the business message this one replies or reacts to.
    reply_to: str | None

    @property
    def identities(self) -> tuple[Identity, ...]:
        """The sender's verified identities: phone-based first, then the business-scoped id."""
        found = []
        if self.wa_id:
            found.append(Identity(WHATSAPP, _wa_id_value(self.wa_id), verified=True))
        if self.user_id:
            found.append(Identity(WHATSAPP_USER, self.user_id, verified=True))
        return tuple(found)


@dataclass(frozen=True)
class WhatsAppStatus:
    """A delivery status of a message the business sent."""

    phone_number_id: str
    message_id: str
    status: str
    timestamp: datetime
    recipient_id: str | None
    recipient_user_id: str | None
    errors: tuple[WhatsAppError, ...] = ()

    @property
    def error_codes(self) -> tuple[int, ...]:
        return tuple(error.code for error in self.errors if error.code is not None)


@dataclass(frozen=True)
class SocialContext:
    """The AWS ids End User Messaging Social publishes beside the Meta entry."""

    aws_account_id: str | None
    event_id: str | None
    waba_ids: tuple[str, ...]
    # Meta phone number id → ARN of the phone number in End User Messaging Social.
    phone_number_arns: dict[str, str]


@dataclass(frozen=True)
class WhatsAppBatch:
    """Everything one webhook delivery or one SNS notification carries."""

    messages: tuple[WhatsAppMessage, ...] = ()
    statuses: tuple[WhatsAppStatus, ...] = ()
    # Errors reported for a whole change, each with the business number it concerns.
    errors: tuple[tuple[str, WhatsAppError], ...] = ()
    social: SocialContext | None = None
    # Entries, changes, messages and statuses that failed validation and were left out.
    invalid: tuple[InvalidItem, ...] = ()


def parse_webhook(payload: Any) -> WhatsAppBatch:
    """Normalize a Cloud API webhook body that was already JSON-decoded.

    Changes of fields other than "messages" are skipped. An invalid entry, change, message
    or status is left out and listed in `invalid`, because Meta resends a rejected delivery
    unchanged and the valid items in it would never be recorded. Raises ValidationError
    only for an invalid envelope: not an object, a wrong `object`, or no `entry` list.
    """
    webhook = validate(WebhookPayload, payload)
    collected = _Collected()
    for index, raw_entry in enumerate(webhook.entry):
        where = f"entry[{index}]"
        try:
            entry = validate(EntryPayload, raw_entry, prefix=where)
        except ValidationError as error:
            collected.invalid.append(invalid_item(error, where))
            continue
        _collect_entry(entry, where, collected)
    return collected.batch()


def parse_social_notification(message: Any) -> WhatsAppBatch:
    """Normalize the decoded `Message` of an End User Messaging Social SNS notification.

    The notification is `{"context": {"MetaWabaIds": [...], "MetaPhoneNumberIds": [...]},
    "whatsAppWebhookEntry": "<one Meta entry as a JSON string>", "aws_account_id",
    "message_timestamp", "messageId"}`. Invalid changes, messages and statuses are left
    out and listed in `invalid`, as in `parse_webhook`. Raises ValidationError naming the
    field when the notification or its entry (its `id` or `changes` list) is invalid.
    """
    notification = validate(SocialNotificationPayload, message)
    where = "whatsAppWebhookEntry"
    entry = validate(EntryPayload, parse_json(notification.whatsAppWebhookEntry, where), where)
    collected = _Collected()
    _collect_entry(entry, where, collected)
    return collected.batch(social=_social_context(notification))


def status_rank(status: str) -> int:
    """Return the rank of a status. A stored status should change only to a higher rank.

    sent < failed < delivered < read. Unknown statuses rank 0, so they never replace one.
    """
    return _STATUS_RANKS.get(status, 0)


def render_body(message: WhatsAppMessage) -> str:
    """Return the text body, or a short text rendering for the timeline of other kinds."""
    content = message.content
    kind = message.content_kind
    if kind == "text":
        return message.text or ""
    if kind == "button":
        return content["title"]
    if kind == "location":
        place = content.get("name") or content.get("address")
        return f"[location] {place or _coordinates(content)}"
    if kind == "reaction":
        return "[reaction removed]" if content["removed"] else f"[reaction] {content['emoji']}"
    if kind == "media":
        if content.get("caption"):
            return content["caption"]
        filename = content.get("filename")
        return f"[{content['media_type']}] {filename}" if filename else f"[{content['media_type']}]"
    if content["type"] == "unsupported":
        return "[unsupported message]"
    return f"[unsupported {content['type']}]"


def to_inbound(message: WhatsAppMessage, agency: AgencyConfig) -> InboundMessage:
    """Build the journey's InboundMessage, sent by the first of the sender's identities.

    The business-scoped user id that comes beside a wa_id is in `other_identities`,
    so the journey links both to one citizen.
    """
    return InboundMessage(
        agency=agency,
        channel=WHATSAPP,
        external_id=message.message_id,
        body=render_body(message),
        occurred_at=message.timestamp,
        sender=message.identities[0],
        content_kind=message.content_kind,
        content=dict(message.content) or None,
        reply_to_external_id=message.reply_to,
        display_name=message.profile_name,
        other_identities=message.identities[1:],
    )


class _Collected:
    def __init__(self) -> None:
        self.messages: list[WhatsAppMessage] = []
        self.statuses: list[WhatsAppStatus] = []
        self.errors: list[tuple[str, WhatsAppError]] = []
        self.invalid: list[InvalidItem] = []

    def batch(self, social: SocialContext | None = None) -> WhatsAppBatch:
        return WhatsAppBatch(
            messages=tuple(self.messages),
            statuses=tuple(self.statuses),
            errors=tuple(self.errors),
            social=social,
            invalid=tuple(self.invalid),
        )


def _collect_entry(entry: EntryPayload, where: str, collected: _Collected) -> None:
    for index, raw_change in enumerate(entry.changes):
        change_path = f"{where}.changes[{index}]"
        try:
            change = validate(ChangePayload, raw_change, prefix=change_path)
            if change.field != MESSAGES_FIELD:
                continue
            value = validate(ValuePayload, change.value, prefix=f"{change_path}.value")
        except ValidationError as error:
            collected.invalid.append(invalid_item(error, change_path))
            continue
        _collect_value(entry.id, value, f"{change_path}.value", collected)


def _collect_value(waba_id: str, value: ValuePayload, path: str, collected: _Collected) -> None:
    number = value.metadata
    for position, raw_message in enumerate(value.messages):
        message_path = f"{path}.messages[{position}]"
        try:
            message = validate(MessagePayload, raw_message, prefix=message_path)
            collected.messages.append(
                _message(waba_id, number, value.contacts, message, message_path)
            )
        except ValidationError as error:
            collected.invalid.append(invalid_item(error, message_path))
    for position, raw_status in enumerate(value.statuses):
        status_path = f"{path}.statuses[{position}]"
        try:
            status = validate(StatusPayload, raw_status, prefix=status_path)
        except ValidationError as error:
            collected.invalid.append(invalid_item(error, status_path))
            continue
        collected.statuses.append(_status(number.phone_number_id, status))
    for error in value.errors:
        collected.errors.append((number.phone_number_id, _error(error)))


def _message(
    waba_id: str,
    number: Metadata,
    contacts: list[ContactPayload],
    message: MessagePayload,
    path: str,
) -> WhatsAppMessage:
    contact = _contact_of(message, contacts)
    wa_id = message.sender or (contact.wa_id if contact else None)
    user_id = message.from_user_id or (contact.user_id if contact else None)
    if not wa_id and not user_id:
        raise ValidationError(
            f"{path}.from: is required, because a message needs the sender's wa_id or user_id",
            field=f"{path}.from",
        )
    kind, content, text = _content(message, path)
    profile = contact.profile if contact else None
    reply_to = message.context.id if message.context else None
    if reply_to is None and kind == "reaction":
        reply_to = content["message_id"]
    return WhatsAppMessage(
        waba_id=waba_id,
        phone_number_id=number.phone_number_id,
        display_phone_number=number.display_phone_number,
        message_id=message.id,
        timestamp=message.timestamp,
        message_type=message.type,
        content_kind=kind,
        content=content,
        text=text,
        wa_id=wa_id,
        user_id=user_id,
        profile_name=profile.name if profile else None,
        reply_to=reply_to,
    )


def _contact_of(message: MessagePayload, contacts: list[ContactPayload]) -> ContactPayload | None:
    """Return the contact that describes the message's sender.

    Contacts are matched on wa_id or user_id. A lone contact is taken as the sender's
    even when its wa_id differs from `from`, as in some published examples, because a
    change lists one contact per sender.
    """
    for contact in contacts:
        if message.sender and contact.wa_id == message.sender:
            return contact
        if message.from_user_id and contact.user_id == message.from_user_id:
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _content(message: MessagePayload, path: str) -> tuple[str, dict, str | None]:
    """Return the content kind, its details and the text body of a message."""
    kind = message.type
    if kind == "text":
        text = _required(message.text, path, "text")
        return "text", {}, text.body
    if kind == "interactive":
        return _interactive(_required(message.interactive, path, "interactive"))
    if kind == "button":
        button = _required(message.button, path, "button")
        content = {"source": "template_button", "payload": button.payload, "title": button.text}
        return "button", content, None
    if kind == "location":
        location = _required(message.location, path, "location")
        return "location", location.model_dump(exclude_none=True), None
    if kind == "reaction":
        reaction = _required(message.reaction, path, "reaction")
        removed = not reaction.emoji
        content = {"message_id": reaction.message_id, "emoji": reaction.emoji or None}
        return "reaction", {**content, "removed": removed}, None
    if kind in MEDIA_TYPES:
        media = _required(getattr(message, kind), path, kind)
        return "media", {"media_type": kind, **media.model_dump(exclude_none=True)}, None
    return "unsupported", _unsupported(kind, message.errors), None


def _interactive(interactive: InteractivePayload) -> tuple[str, dict, str | None]:
    reply = {"button_reply": interactive.button_reply, "list_reply": interactive.list_reply}.get(
        interactive.type
    )
    if reply is None:
        return "unsupported", _unsupported(f"interactive.{interactive.type}", []), None
    content = {"source": interactive.type, "payload": reply.id, "title": reply.title}
    if reply.description:
        content["description"] = reply.description
    return "button", content, None


def _unsupported(message_type: str, errors: list[ErrorPayload]) -> dict:
    codes = [error.code for error in errors if error.code is not None]
    return {"type": message_type, "error_codes": codes}


def _required(part: Any, path: str, name: str) -> Any:
    if part is None:
        raise ValidationError(
            f"{path}.{name}: is required for a message of type {name!r}", field=f"{path}.{name}"
        )
    return part


def _status(phone_number_id: str, status: StatusPayload) -> WhatsAppStatus:
    return WhatsAppStatus(
        phone_number_id=phone_number_id,
        message_id=status.id,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        recipient_user_id=status.recipient_user_id,
        errors=tuple(_error(error) for error in status.errors),
    )


def _error(error: ErrorPayload) -> WhatsAppError:
    return WhatsAppError(code=error.code, title=error.title, message=error.message)


def _social_context(notification: SocialNotificationPayload) -> SocialContext:
    context = notification.context or SocialContextPayload()
    return SocialContext(
        aws_account_id=notification.aws_account_id,
        event_id=notification.messageId,
        waba_ids=tuple(waba.wabaId for waba in context.MetaWabaIds),
        phone_number_arns={
            number.metaPhoneNumberId: number.arn
            for number in context.MetaPhoneNumberIds
            if number.arn
        },
    )


def _wa_id_value(wa_id: str) -> str:
    """Return a wa_id in E.164 with its "+", or unchanged when it is not a possible number."""
    try:
        return normalize_phone("+" + wa_id.removeprefix("+"))
    except PhoneNumberError:
        return wa_id


def _coordinates(content: dict) -> str:
    return f"{content['latitude']}, {content['longitude']}"
