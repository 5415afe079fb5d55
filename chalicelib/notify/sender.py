"""Send a text to a citizen on a channel and record it on the timeline."""

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.agencies import AgencyConfig
from chalicelib.clock import utc_now
from chalicelib.journey.models import SMS, Identity
from chalicelib.journey.records import new_contact, new_id
from chalicelib.observability import logger

SENT = "sent"
FAILED = "failed"


def send_text(
    *,
    agency: AgencyConfig,
    channel: str,
    citizen_id: str,
    to: Identity,
    text: str,
    case_id: str | None = None,
    case_reference: str | None = None,
) -> str:
    """Send `text` and record the outbound contact; return its delivery status.

    A failed send is recorded with status "failed" rather than raised, so the
    inbound event that triggered it is not retried and recorded twice.
    """
    if channel != SMS:
        raise ValueError(f"channel {channel!r} has no text sender yet")
    now = utc_now()
    status, message_id = _send_sms(agency, citizen_id, to.value, text)
    new_contact(
        contact_id=new_id(),
        citizen_id=citizen_id,
        agency_id=agency.agency_id,
        channel=channel,
        direction="outbound",
        kind="notice",
        occurred_at=now,
        now=now,
        body=text,
        case_id=case_id,
        case_reference=case_reference,
        external_id=message_id,
        identity_kind=to.kind,
        identity_verified=to.verified,
        delivery_status=status,
    ).save()
    return status


def _send_sms(
    agency: AgencyConfig, citizen_id: str, destination: str, text: str
) -> tuple[str, str | None]:
    if not agency.sms_number:
        logger.warning("sms not sent: agency has no sms number", extra={"citizen_id": citizen_id})
        return FAILED, None
    try:
        response = aws.client("pinpoint-sms-voice-v2").send_text_message(
            DestinationPhoneNumber=destination,
            OriginationIdentity=agency.sms_number,
            MessageBody=text,
            MessageType="TRANSACTIONAL",
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.warning("sms send failed", extra={"citizen_id": citizen_id, "error_code": code})
        return FAILED, None
    except BotoCoreError as error:
        error_type = type(error).__name__
        logger.warning(
            "sms send failed", extra={"citizen_id": citizen_id, "error_type": error_type}
        )
        return FAILED, None
    return SENT, response.get("MessageId")
