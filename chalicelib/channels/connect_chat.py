"""Amazon Connect chats streamed to SNS (StartContactStreaming), the event of `connect_chat_stream`.

Each SNS record's `Message` is a JSON string: `Id`, `Type` (MESSAGE or EVENT),
`ContentType`, `Content`, `ParticipantRole` (CUSTOMER, AGENT, SYSTEM, CUSTOM_BOT),
`ParticipantId`, `DisplayName`, `ContactId`, `InitialContactId` and `AbsoluteTime`. The
record's message attributes name the instance (`InstanceId`, `AccountId`), which the
message itself does not, and the topic's ARN gives the region of the instance's ARN.

What is kept:
- text messages of every participant (`text/plain`, `text/markdown`);
- the events that mark the chat's course: an agent joined or left, a transfer
  succeeded or failed, the chat ended.
Typing, read and delivery receipts, other participants joining or leaving, and Types
this module does not know are logged and skipped, never retried: Connect adds Types and
content types over time. NOTE: interactive messages (list pickers, time pickers and
their responses) and attachments are skipped too.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.channels.sns import SnsEvent, SnsNotification, SnsRecord
from chalicelib.channels.validation import parse_json, validate
from chalicelib.clock import parse_utc
from chalicelib.errors import ValidationError, VentanillaError
from chalicelib.journey import connect_chats
from chalicelib.journey.models import CONNECT_CHAT
from chalicelib.observability import logger

TEXT_CONTENT_TYPES = frozenset({"text/plain", "text/markdown"})
EVENT_PREFIX = "application/vnd.amazonaws.connect.event."
# Events kept as actions of the chat's contact, by the part of the content type after
# EVENT_PREFIX. Joined and left count only for agents: a customer joins when the chat
# starts and leaves when it ends, which chat.ended already records.
AGENT_EVENTS = {"participant.joined": "agent_joined", "participant.left": "agent_left"}
CHAT_EVENTS = {
    "transfer.succeeded": "transferred",
    "transfer.failed": "transfer_failed",
    "chat.ended": "chat_ended",
}
# The longest chat message Connect takes (SendMessage `Content`, botocore 1.43's model).
MAX_CONTENT_LENGTH = 16384


class StreamedMessage(BaseModel):
    """The JSON document Connect publishes for one chat message or event."""

    model_config = ConfigDict(extra="ignore")

    Id: str = Field(min_length=1, max_length=256)
    Type: str = Field(min_length=1, max_length=64)
    ContentType: str | None = Field(default=None, max_length=256)
    Content: str | None = Field(default=None, max_length=MAX_CONTENT_LENGTH)
    ParticipantRole: str | None = Field(default=None, max_length=64)
    ContactId: str = Field(min_length=1, max_length=256)
    InitialContactId: str | None = Field(default=None, max_length=256)
    AbsoluteTime: str | None = None


@dataclass(frozen=True)
class StreamItem:
    """One parsed record: the message, its agency and when it happened."""

    message: StreamedMessage
    agency: AgencyConfig
    occurred_at: datetime

    @property
    def conversation_id(self) -> str:
        """The id shared by every contact of the chat, transfers included."""
        return self.message.InitialContactId or self.message.ContactId


def parse_event(event: dict) -> list[StreamItem]:
    """Validate every record of an SNS event and find its agency, writing nothing.

    Raises ValidationError naming the record and field at fault, and NotFoundError for
    an instance no agency owns.
    """
    envelope = validate(SnsEvent, event)
    return [_parse_record(index, record) for index, record in enumerate(envelope.Records)]


def _parse_record(index: int, record: SnsRecord) -> StreamItem:
    where = f"Records[{index}].Sns"
    message = validate(
        StreamedMessage, parse_json(record.Sns.Message, f"{where}.Message"), f"{where}.Message"
    )
    instance_arn = _instance_arn(record.Sns, where)
    occurred_at = _time(message.AbsoluteTime or record.Sns.Timestamp, f"{where}.Message")
    return StreamItem(message, agency_for_endpoint("connect", instance_arn), occurred_at)


def _instance_arn(notification: SnsNotification, where: str) -> str:
    """Build the instance's ARN from the `InstanceId` attribute and the topic's ARN."""
    attributes = notification.MessageAttributes or {}
    instance_id = _attribute(attributes, "InstanceId")
    if not instance_id:
        field = f"{where}.MessageAttributes.InstanceId"
        raise ValidationError(f"{field} is required", field=field)
    topic = (notification.TopicArn or "").split(":")
    if len(topic) < 6 or topic[0] != "arn":
        field = f"{where}.TopicArn"
        raise ValidationError(f"{field}: expected an SNS topic ARN", field=field)
    account = _attribute(attributes, "AccountId") or topic[4]
    return f"arn:{topic[1]}:connect:{topic[3]}:{account}:instance/{instance_id}"


def _attribute(attributes: Any, name: str) -> str | None:
    value = attributes.get(name) if isinstance(attributes, dict) else None
    if isinstance(value, dict):
        value = value.get("Value")
    return value if isinstance(value, str) and value else None


def _time(raw: str, where: str) -> datetime:
    try:
        return parse_utc(raw)
    except ValueError as error:
        field = f"{where}.AbsoluteTime"
        raise ValidationError(f"{field}: expected an ISO 8601 UTC time", field=field) from error


def handle(event: dict) -> None:
    """Record every kept message and event of an SNS event.

    Raises what parse_event raises, before anything is written, so Lambda retries the
    event and then parks it in the failure destination.
    """
    try:
        items = parse_event(event)
    except VentanillaError as error:
        logger.error(
            "invalid chat stream event", extra={"error": error.message, "field": error.field}
        )
        raise
    for item in items:
        logger.append_keys(agency=item.agency.agency_id, channel=CONNECT_CHAT)
        _record(item)


def _record(item: StreamItem) -> None:
    message = item.message
    kind = message.Type.upper()
    logged = {"message_type": message.Type, "content_type": message.ContentType}
    if kind == "MESSAGE" and message.ContentType in TEXT_CONTENT_TYPES and message.Content:
        _record_text(item)
    elif kind == "EVENT" and (action := _event_action(message)) is not None:
        connect_chats.record_event(item.agency, item.conversation_id, action)
    else:
        logger.info("chat stream item skipped", extra=logged)


def _record_text(item: StreamItem) -> None:
    message = item.message
    role = (message.ParticipantRole or "").upper()
    chat = connect_chats.ChatText(
        agency=item.agency,
        conversation_id=item.conversation_id,
        message_id=message.Id,
        text=message.Content,
        occurred_at=item.occurred_at,
    )
    if role == "CUSTOMER":
        connect_chats.record_customer_text(chat)
    elif role in connect_chats.OUTBOUND_KINDS:
        connect_chats.record_outbound_text(chat, connect_chats.OUTBOUND_KINDS[role])
    else:
        logger.info("chat message of an unknown participant skipped", extra={"role": role})


def _event_action(message: StreamedMessage) -> str | None:
    content_type = message.ContentType or ""
    if not content_type.startswith(EVENT_PREFIX):
        return None
    name = content_type.removeprefix(EVENT_PREFIX)
    if (message.ParticipantRole or "").upper() == "AGENT" and name in AGENT_EVENTS:
        return AGENT_EVENTS[name]
    return CHAT_EVENTS.get(name)
