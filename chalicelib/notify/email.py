"""Email through Amazon SES SendRawEmail, so that replies carry threading headers.

SES replaces any Message-ID header with its own, `<message id>@<region>.amazonses.com`,
so the header is derived from the id SendRawEmail returns.
"""

from email.message import EmailMessage
from email.utils import formataddr

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.agencies import AgencyConfig
from chalicelib.journey.models import EMAIL, Identity
from chalicelib.notify.attempts import NOT_CONFIGURED, SENT, Attempt, failed, not_sent
from chalicelib.observability import logger
from chalicelib.settings import get_settings


def build_email(
    agency: AgencyConfig,
    to: Identity,
    subject: str,
    text: str,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """Build a plain-text email that replies to the email whose Message-ID is `in_reply_to`."""
    message = EmailMessage()
    message["From"] = formataddr((agency.name, agency.email_address or ""))
    message["To"] = to.value
    message["Subject"] = subject
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(text)
    return message


def ses_message_id_header(message_id: str) -> str:
    """Return the Message-ID header SES gives the email it accepted as `message_id`."""
    region = get_settings().region
    # NOTE: us-east-1 uses `email.amazonses.com`, as sent headers in public examples
    # show. The `<region>.amazonses.com` form of other regions is assumed.
    domain = "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"<{message_id}@{domain}>"


def send_email(
    agency: AgencyConfig,
    to: Identity,
    subject: str,
    text: str,
    in_reply_to: str | None = None,
) -> Attempt:
    """Send an email from the agency's address, returning a failed send instead of raising."""
    if not agency.email_address:
        return not_sent(EMAIL, NOT_CONFIGURED, to)
    message = build_email(agency, to, subject, text, in_reply_to)
    try:
        response = aws.client("ses").send_raw_email(
            Source=agency.email_address,
            Destinations=[to.value],
            RawMessage={"Data": message.as_bytes()},
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.warning("email send failed", extra={"error_code": code})
        return failed(EMAIL, code, to)
    except BotoCoreError as error:
        error_type = type(error).__name__
        logger.warning("email send failed", extra={"error_type": error_type})
        return failed(EMAIL, error_type, to)
    message_id = response["MessageId"]
    return Attempt(
        EMAIL,
        SENT,
        message_id=message_id,
        identity=to,
        email_message_id=ses_message_id_header(message_id),
    )
