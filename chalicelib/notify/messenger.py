"""Messenger messages through the Send API, `POST /me/messages` with the page's token.

A page may message a person freely within 24 hours of their last message
(`messaging_type` RESPONSE). Later, only a message tag that fits the message allows a
send: HUMAN_AGENT for a person's reply within 7 days, CONFIRMED_EVENT_UPDATE for an
appointment. Anything else is not sent, and the caller falls back to another channel.
"""

from datetime import datetime, timedelta

from chalicelib.agencies import AgencyConfig
from chalicelib.journey.models import MESSENGER, Identity
from chalicelib.notify import graph
from chalicelib.notify.attempts import (
    NOT_CONFIGURED,
    SENT,
    TEXT_TOO_LONG,
    WINDOW_CLOSED,
    Attempt,
    failed,
    not_sent,
)
from chalicelib.observability import logger
from chalicelib.settings import get_settings

MAX_TEXT_LENGTH = 2000
# Messenger shows at most 13 quick replies, each titled in at most 20 characters.
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT = "HUMAN_AGENT"
CONFIRMED_EVENT_UPDATE = "CONFIRMED_EVENT_UPDATE"


def message_tag(kind: str, template: str | None, since_inbound: timedelta | None) -> str | None:
    """Return the tag that allows a send outside the 24-hour window, or None when none fits."""
    if kind == "reply" and since_inbound is not None and since_inbound < HUMAN_AGENT_WINDOW:
        return HUMAN_AGENT
    if template == "appointment_reminder":
        return CONFIRMED_EVENT_UPDATE
    return None


def send_messenger(
    agency: AgencyConfig,
    to: Identity,
    text: str,
    *,
    kind: str,
    template: str | None,
    last_inbound_at: datetime | None,
    now: datetime,
    choices: tuple[tuple[str, str], ...] = (),
) -> Attempt:
    """Send `text` to a page-scoped id, returning a failed send instead of raising.

    `choices` become quick replies, `(id, title)` each, up to Messenger's 13.
    """
    if not agency.messenger_page_id:
        return not_sent(MESSENGER, NOT_CONFIGURED, to)
    if len(text) > MAX_TEXT_LENGTH:
        return not_sent(MESSENGER, TEXT_TOO_LONG, to)
    since = now - last_inbound_at if last_inbound_at is not None else None
    payload: dict = {"recipient": {"id": to.value}, "message": {"text": text}}
    if 0 < len(choices) <= MAX_QUICK_REPLIES:
        payload["message"]["quick_replies"] = [
            {"content_type": "text", "title": title[:MAX_QUICK_REPLY_TITLE], "payload": choice_id}
            for choice_id, title in choices
        ]
    if since is not None and since < STANDARD_WINDOW:
        payload["messaging_type"] = "RESPONSE"
    else:
        tag = message_tag(kind, template, since)
        if tag is None:
            return not_sent(MESSENGER, WINDOW_CLOSED, to)
        payload["messaging_type"] = "MESSAGE_TAG"
        payload["tag"] = tag
    parameter = f"{get_settings().messenger_token_parameter_prefix}/{agency.messenger_page_id}"
    try:
        token = graph.access_token(parameter)
        response = graph.post("me/messages", token, payload)
    except graph.GraphError as error:
        logger.warning("messenger send failed", extra={"error_code": error.code})
        return failed(MESSENGER, error.code, to)
    return Attempt(MESSENGER, SENT, message_id=response.get("message_id"), identity=to)
