"""SMS through AWS End User Messaging SMS (`pinpoint-sms-voice-v2` SendTextMessage)."""

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, deadline
from chalicelib.agencies import AgencyConfig
from chalicelib.journey.models import SMS, Identity
from chalicelib.notify.attempts import (
    NOT_CONFIGURED,
    SENT,
    TIMED_OUT,
    Attempt,
    failed,
    not_sent,
)
from chalicelib.notify.segments import segment_count
from chalicelib.observability import logger


def send_sms(agency: AgencyConfig, to: Identity, text: str) -> Attempt:
    """Send `text` from the agency's number, returning a failed send instead of raising."""
    if not agency.sms_number:
        logger.warning("sms not sent: agency has no sms number")
        return not_sent(SMS, NOT_CONFIGURED, to)
    if not deadline.allows(aws.bounded_request_seconds()):
        logger.warning("sms not sent: no time left before the deadline")
        return not_sent(SMS, TIMED_OUT, to)
    try:
        response = aws.client("pinpoint-sms-voice-v2").send_text_message(
            DestinationPhoneNumber=to.value,
            OriginationIdentity=agency.sms_number,
            MessageBody=text,
            MessageType="TRANSACTIONAL",
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.warning("sms send failed", extra={"error_code": code})
        return failed(SMS, code, to)
    except BotoCoreError as error:
        error_type = type(error).__name__
        logger.warning("sms send failed", extra={"error_type": error_type})
        return failed(SMS, error_type, to)
    return Attempt(
        SMS,
        SENT,
        message_id=response.get("MessageId"),
        identity=to,
        segments=segment_count(text),
    )
