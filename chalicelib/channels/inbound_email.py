"""Inbound email through an SES receipt rule's SNS action, the event of `inbound_email`.

Each SNS record carries one SES notification (`chalicelib.channels.email` parses it).
The agency is the owner of the first recipient address that is one of its endpoints.
Mail whose spam or virus check failed is quarantined: recorded by its ids and verdicts,
never put on a timeline.
"""

from dataclasses import dataclass

from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.channels import email
from chalicelib.channels.sns import SnsEvent
from chalicelib.channels.validation import parse_json, validate, with_prefix
from chalicelib.errors import NotFoundError, ValidationError, VentanillaError
from chalicelib.journey import emails
from chalicelib.observability import logger


@dataclass(frozen=True)
class ReceivedEmail:
    """One parsed email and the agency it was sent to."""

    message: email.InboundEmail
    agency: AgencyConfig


def parse_event(event: dict) -> list[ReceivedEmail]:
    """Validate every record of an SNS event and find each email's agency, writing nothing.

    Raises ValidationError naming the record and field at fault, and NotFoundError when
    no agency owns any recipient of an email.
    """
    envelope = validate(SnsEvent, event)
    return [
        _parse_record(index, record.Sns.Message) for index, record in enumerate(envelope.Records)
    ]


def handle(event: dict) -> None:
    """Record or quarantine every email of an SNS event.

    Raises what parse_event raises, before anything is written, so Lambda retries the
    event and then parks it in the failure destination.
    """
    try:
        received = parse_event(event)
    except VentanillaError as error:
        logger.error("invalid email event", extra={"error": error.message, "field": error.field})
        raise
    for item in received:
        logger.append_keys(agency=item.agency.agency_id, channel=email.EMAIL)
        if item.message.is_quarantined:
            _quarantine(item)
            continue
        result = emails.record_email(
            email.to_inbound(item.message, item.agency), quoted_message_ids(item.message)
        )
        logger.info(
            "message recorded",
            extra={
                "citizen_id": result.citizen_id,
                "case_id": result.case_id,
                "case_opened": result.case_opened,
                "duplicate": result.duplicate,
            },
        )


def quoted_message_ids(message: email.InboundEmail) -> list[str]:
    """Return the Message-IDs an email replies to: In-Reply-To, then References newest first."""
    quoted = [message.in_reply_to] if message.in_reply_to else []
    return quoted + list(reversed(message.references))


def _parse_record(index: int, text: str) -> ReceivedEmail:
    where = f"Records[{index}].Sns.Message"
    try:
        message = email.parse_notification(parse_json(text, where))
    except ValidationError as error:
        prefixed = with_prefix(error, where)
        if prefixed is error:
            raise
        raise prefixed from error
    return ReceivedEmail(message, _agency(message, f"{where}.receipt.recipients"))


def _agency(message: email.InboundEmail, field: str) -> AgencyConfig:
    for address in message.recipients:
        try:
            return agency_for_endpoint(email.EMAIL, address)
        except NotFoundError:
            continue
    raise NotFoundError("no agency owns any recipient address of this email", field=field)


def _quarantine(item: ReceivedEmail) -> None:
    message = item.message
    verdicts = message.verdicts
    emails.quarantine(
        agency_id=item.agency.agency_id,
        ses_message_id=message.ses_message_id,
        message_id=message.message_id,
        sender_domain=message.sender.rpartition("@")[2],
        recipient=message.recipient,
        verdicts={
            "spam": verdicts.spam,
            "virus": verdicts.virus,
            "spf": verdicts.spf,
            "dkim": verdicts.dkim,
            "dmarc": verdicts.dmarc,
        },
        received_at=message.received_at,
    )
