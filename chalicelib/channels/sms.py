"""Two-way SMS from AWS End User Messaging SMS, delivered through an SNS topic.

The SNS record's `Message` is a JSON string with `originationNumber` (the
citizen), `destinationNumber` (the agency's number), `messageBody`,
`inboundMessageId`, and optionally `messageKeyword` and
`previousPublishedMessageId`.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.agencies import agency_for_endpoint
from chalicelib.channels.sns import SnsEvent, SnsRecord
from chalicelib.channels.validation import parse_json, validate
from chalicelib.clock import parse_utc
from chalicelib.errors import ValidationError, VentanillaError
from chalicelib.identity.phones import PhoneNumberError, normalize_phone
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import SMS, Identity, InboundMessage
from chalicelib.observability import logger

MAX_BODY_LENGTH = 1600


class SmsPayload(BaseModel):
    """The JSON document End User Messaging SMS publishes for one inbound SMS."""

    model_config = ConfigDict(extra="ignore")

    originationNumber: str = Field(min_length=1, max_length=32)  # noqa: N815 - wire name
    destinationNumber: str = Field(min_length=1, max_length=32)  # noqa: N815
    messageBody: str = Field(max_length=MAX_BODY_LENGTH)  # noqa: N815
    inboundMessageId: str = Field(min_length=1, max_length=200)  # noqa: N815
    messageKeyword: str | None = None  # noqa: N815
    previousPublishedMessageId: str | None = None  # noqa: N815


def parse_event(event: dict) -> list[InboundMessage]:
    """Validate every record of an SNS event before anything is written.

    Raises ValidationError naming the record and field at fault.
    """
    envelope = validate(SnsEvent, event)
    return [_parse_record(index, record) for index, record in enumerate(envelope.Records)]


def _parse_record(index: int, record: SnsRecord) -> InboundMessage:
    where = f"Records[{index}].Sns.Message"
    payload = validate(SmsPayload, parse_json(record.Sns.Message, where), prefix=where)
    sender = _phone(payload.originationNumber, f"{where}.originationNumber")
    destination = _phone(payload.destinationNumber, f"{where}.destinationNumber")
    return InboundMessage(
        agency=agency_for_endpoint("sms", destination),
        channel=SMS,
        external_id=payload.inboundMessageId,
        body=payload.messageBody,
        occurred_at=_timestamp(record.Sns.Timestamp, f"Records[{index}].Sns.Timestamp"),
        sender=Identity("phone", sender, verified=True),
    )


def _phone(raw: str, field: str) -> str:
    try:
        return normalize_phone(raw)
    except (PhoneNumberError, ValueError) as error:
        raise ValidationError(
            f"{field}: expected a phone number in E.164 form ({error})", field=field
        ) from error


def _timestamp(raw: str, field: str) -> datetime:
    try:
        return parse_utc(raw)
    except ValueError as error:
        raise ValidationError(f"{field}: expected an ISO 8601 UTC time", field=field) from error


def handle(event: dict) -> None:
    """Record every SMS of an SNS event; raises ValidationError so Lambda retries, then parks it."""
    try:
        messages = parse_event(event)
    except VentanillaError as error:
        logger.error("invalid sms event", extra={"error": error.message, "field": error.field})
        raise
    for message in messages:
        logger.append_keys(agency=message.agency.agency_id, channel=SMS)
        result = record_inbound(message)
        logger.info(
            "sms recorded",
            extra={
                "citizen_id": result.citizen_id,
                "case_id": result.case_id,
                "case_opened": result.case_opened,
                "duplicate": result.duplicate,
            },
        )
