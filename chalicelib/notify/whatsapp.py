"""WhatsApp messages through Meta's Cloud API, or AWS End User Messaging Social.

An agency whose number is linked to End User Messaging Social (it has
`whatsapp_social_phone_number_arn`) sends with SendWhatsAppMessage, which carries the
same Meta message object as bytes. Otherwise messages are posted to the Cloud API's
`/<phone number id>/messages` with the deployment's access token.

WhatsApp takes free text only within 24 hours of the user's last message to the
number. Outside that window only an approved template can be sent.
"""

import json
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, deadline
from chalicelib.agencies import AgencyConfig
from chalicelib.journey.models import WHATSAPP, Identity
from chalicelib.notify import graph
from chalicelib.notify.attempts import (
    NOT_CONFIGURED,
    SENT,
    TIMED_OUT,
    Attempt,
    failed,
    not_sent,
)
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# Meta's limits: 4096 characters of text body, 1024 for a template body parameter.
MAX_TEXT_LENGTH = 4096
MAX_PARAMETER_LENGTH = 1024
# Meta rejects a template parameter with a line break, a tab or more than four spaces
# in a row (error 132018).
_PARAMETER_BREAKS = re.compile(r"[\t\r\n]+| {5,}")


def recipient(identity: Identity) -> str:
    """Return a WhatsApp identity as Meta's `to`: the phone number's digits, no "+"."""
    return identity.value.removeprefix("+")


def text_message(to: Identity, text: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to),
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }


# Meta's limits of interactive messages: 3 reply buttons of 20 characters, or a
# list of 10 rows of 24 characters, and 1024 characters of body text.
MAX_BUTTONS = 3
MAX_LIST_ROWS = 10
MAX_BUTTON_TITLE = 20
MAX_ROW_TITLE = 24
MAX_INTERACTIVE_BODY = 1024


def interactive_message(
    to: Identity, text: str, choices: tuple[tuple[str, str], ...], list_label: str
) -> dict[str, Any] | None:
    """Build reply buttons (up to 3 choices) or a list (up to 10) of `(id, title)` choices.

    Returns None when the choices or the text do not fit, so the caller sends text.
    A tapped choice comes back as a message whose reply carries the choice's id.
    """
    if not choices or len(choices) > MAX_LIST_ROWS or len(text) > MAX_INTERACTIVE_BODY:
        return None
    if len(choices) <= MAX_BUTTONS:
        buttons = [
            {"type": "reply", "reply": {"id": choice_id, "title": title[:MAX_BUTTON_TITLE]}}
            for choice_id, title in choices
        ]
        interactive = {"type": "button", "body": {"text": text}, "action": {"buttons": buttons}}
    else:
        rows = [{"id": choice_id, "title": title[:MAX_ROW_TITLE]} for choice_id, title in choices]
        interactive = {
            "type": "list",
            "body": {"text": text},
            "action": {
                "button": list_label[:MAX_BUTTON_TITLE],
                "sections": [{"title": list_label[:MAX_ROW_TITLE], "rows": rows}],
            },
        }
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to),
        "type": "interactive",
        "interactive": interactive,
    }


def template_message(to: Identity, template: dict[str, Any], values: dict[str, str]) -> dict:
    """Build a template message whose body parameters are `values` named in `template`.

    `template` is an agency's entry: `{"name", "language", "parameters": [names]}`.
    Parameters are filled in the listed order, because the template's {{1}}, {{2}}...
    are positional.
    """
    body = {
        "name": template["name"],
        "language": {"code": template["language"]},
    }
    names = list(template.get("parameters") or [])
    if names:
        parameters = [{"type": "text", "text": _parameter(values.get(name, ""))} for name in names]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(to),
        "type": "template",
        "template": body,
    }


def send_whatsapp(agency: AgencyConfig, to: Identity, message: dict[str, Any]) -> Attempt:
    """Send a Meta message object, returning a failed send instead of raising."""
    template = message.get("template", {}).get("name")
    # Either path makes one bounded AWS request (the send, or the token's SSM read)
    # before anything else, so a deadline that cannot fit one skips the send.
    if not deadline.allows(aws.bounded_request_seconds()):
        logger.warning("whatsapp not sent: no time left before the deadline")
        return not_sent(WHATSAPP, TIMED_OUT, to)
    if agency.whatsapp_social_phone_number_arn:
        sent = _send_social(agency.whatsapp_social_phone_number_arn, to, message)
    elif agency.whatsapp_phone_number_id:
        sent = _send_cloud_api(agency.whatsapp_phone_number_id, to, message)
    else:
        logger.warning("whatsapp not sent: agency has no whatsapp number")
        return not_sent(WHATSAPP, NOT_CONFIGURED, to)
    if sent.reached and template:
        return Attempt(WHATSAPP, SENT, message_id=sent.message_id, identity=to, template=template)
    return sent


def _send_cloud_api(phone_number_id: str, to: Identity, message: dict[str, Any]) -> Attempt:
    try:
        token = graph.access_token(get_settings().whatsapp_token_parameter)
        response = graph.post(f"{phone_number_id}/messages", token, message)
    except graph.GraphError as error:
        logger.warning("whatsapp send failed", extra={"error_code": error.code})
        return failed(WHATSAPP, error.code, to)
    messages = response.get("messages") or [{}]
    return Attempt(WHATSAPP, SENT, message_id=messages[0].get("id"), identity=to)


def _send_social(phone_number_arn: str, to: Identity, message: dict[str, Any]) -> Attempt:
    try:
        response = aws.client("socialmessaging").send_whatsapp_message(
            originationPhoneNumberId=phone_number_arn,
            message=json.dumps(message, ensure_ascii=False).encode(),
            metaApiVersion=get_settings().meta_graph_version,
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.warning("whatsapp send failed", extra={"error_code": code})
        return failed(WHATSAPP, code, to)
    except BotoCoreError as error:
        error_type = type(error).__name__
        logger.warning("whatsapp send failed", extra={"error_type": error_type})
        return failed(WHATSAPP, error_type, to)
    # NOTE: delivery statuses name the message by its wamid. That SendWhatsAppMessage's
    # messageId is the wamid is assumed here, because AWS's API reference does not state it.
    return Attempt(WHATSAPP, SENT, message_id=response.get("messageId"), identity=to)


def _parameter(value: str) -> str:
    """Return text that Meta accepts as a template parameter: one line, at most 1024 characters."""
    flat = _PARAMETER_BREAKS.sub(" ", value).strip()
    if len(flat) <= MAX_PARAMETER_LENGTH:
        return flat
    return flat[: MAX_PARAMETER_LENGTH - 1] + "…"
