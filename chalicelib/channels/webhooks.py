"""Meta's webhooks for WhatsApp and Messenger, and WhatsApp through End User Messaging Social.

One Meta app per deployment serves every agency's numbers and pages, so its app secrets
and verify tokens are the deployment's, read from SSM Parameter Store. The signature is
checked over the raw body before anything is parsed, because the body, and with it the
agency, can only be trusted once the signature matches.

Meta retries a delivery that does not get a 2xx response for days. So a signed delivery
with a valid envelope gets 200 once every item is recorded. Parts of it that name a
number or page no agency owns, and items that fail validation, are logged and skipped.
A signed delivery whose envelope does not parse gets 400 naming the field. Items are
recorded concurrently within a time budget (`item_groups`), and a delivery whose budget
ran out before its last item started gets 503, so that Meta delivers it again.
"""

import functools
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities import parameters
from chalice import Response

from chalicelib import clock
from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.channels import messenger, whatsapp
from chalicelib.channels.http import json_response
from chalicelib.channels.item_groups import ItemGroups, run_groups
from chalicelib.channels.meta import SIGNATURE_HEADER, verify_handshake, verify_signature
from chalicelib.channels.sns import SnsEvent
from chalicelib.channels.validation import InvalidItem, parse_json, validate, with_prefix
from chalicelib.errors import NotFoundError, ServiceUnavailableError, ValidationError
from chalicelib.journey import deliveries
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import Identity, InboundMessage
from chalicelib.observability import logger
from chalicelib.settings import API_GATEWAY_TIMEOUT_SECONDS, get_settings

# Seconds a secret read from SSM stays in powertools' cache in one container, so a
# rotated secret is used within this time.
SECRET_MAX_AGE_SECONDS = 300
TEXT_HEADERS = {"Content-Type": "text/plain"}
RECEIVED = {"status": "received"}


def verify_whatsapp(query_params: Mapping[str, str] | None) -> Response:
    """Return WhatsApp's subscription challenge as text/plain; raises ForbiddenError (403)."""
    token = _secret(get_settings().whatsapp_verify_token_parameter)
    return _challenge_response(verify_handshake(query_params, token))


def verify_messenger(query_params: Mapping[str, str] | None) -> Response:
    """Return Messenger's subscription challenge as text/plain; raises ForbiddenError (403)."""
    token = _secret(get_settings().messenger_verify_token_parameter)
    return _challenge_response(verify_handshake(query_params, token))


def receive_whatsapp(
    raw_body: bytes | None, headers: Mapping[str, str], context: Any = None
) -> Response:
    """Verify, parse and record a Cloud API webhook delivery.

    `context` is the Lambda context, whose remaining time bounds the budget. Raises
    UnauthorizedError for a missing or wrong signature, ValidationError for a signed
    body that is not a valid webhook, and ServiceUnavailableError when the budget ran
    out before every item was recorded.
    """
    deadline = _deadline(context)
    secret = _secret(get_settings().whatsapp_app_secret_parameter)
    verify_signature(raw_body or b"", headers.get(SIGNATURE_HEADER), secret)
    items = _whatsapp_items(whatsapp.parse_webhook(parse_json(raw_body, "body")))
    _run(whatsapp.WHATSAPP, items, deadline)
    return json_response(RECEIVED)


def receive_messenger(
    raw_body: bytes | None, headers: Mapping[str, str], context: Any = None
) -> Response:
    """Verify, parse and record a Messenger webhook delivery.

    Raises the same errors as `receive_whatsapp`.
    """
    deadline = _deadline(context)
    secret = _secret(get_settings().messenger_app_secret_parameter)
    verify_signature(raw_body or b"", headers.get(SIGNATURE_HEADER), secret)
    items = _messenger_items(messenger.parse_webhook(parse_json(raw_body, "body")))
    _run(messenger.MESSENGER, items, deadline)
    return json_response(RECEIVED)


def handle_social(event: dict, context: Any = None) -> None:
    """Record every WhatsApp notification of an End User Messaging Social SNS event.

    Every record is parsed before anything is written. Raises ValidationError naming the
    record and field at fault, so Lambda retries the event and then parks it, and
    ServiceUnavailableError when the budget ran out before every item was recorded.
    """
    deadline = _deadline(context)
    try:
        batches = [
            _social_batch(index, record.Sns.Message)
            for index, record in enumerate(validate(SnsEvent, event).Records)
        ]
    except ValidationError as error:
        logger.error("invalid social event", extra={"error": error.message, "field": error.field})
        raise
    items = ItemGroups()
    for batch in batches:
        _whatsapp_items(batch, items)
    _run(whatsapp.WHATSAPP, items, deadline)


def _whatsapp_items(batch: whatsapp.WhatsAppBatch, items: ItemGroups | None = None) -> ItemGroups:
    """Collect the recording of each message and status of one delivery or notification.

    A sender's messages form one group, as do the statuses of one sent message.
    Invalid items and the errors WhatsApp reports are logged here and recorded nowhere.
    """
    items = ItemGroups() if items is None else items
    _log_invalid(whatsapp.WHATSAPP, batch.invalid)
    for message in batch.messages:
        sender = message.wa_id or message.user_id
        items.add(("message", sender), functools.partial(_record_whatsapp_message, message))
    for status in batch.statuses:
        record = functools.partial(
            deliveries.record_status,
            whatsapp.WHATSAPP,
            status.message_id,
            status.status,
            status.timestamp,
            status.error_codes,
        )
        items.add(("status", status.message_id), record)
    for phone_number_id, error in batch.errors:
        logger.warning(
            "whatsapp reported an error",
            extra={"phone_number_id": phone_number_id, "error_code": error.code},
        )
    return items


def _messenger_items(batch: messenger.MessengerBatch) -> ItemGroups:
    """Collect the recording of each message and receipt of one Messenger delivery.

    A sender's messages form one group, as do the receipts of one recipient. Echoes are
    the page's own messages. Those this deployment sent are already on the timeline,
    so every echo is skipped.
    """
    items = ItemGroups()
    _log_invalid(messenger.MESSENGER, batch.invalid)
    for message in batch.messages:
        items.add(("message", message.psid), functools.partial(_record_messenger_message, message))
    for echo in batch.echoes:
        # NOTE: a page message sent from another tool (Meta's inbox, another app) is
        # skipped too, so it never reaches the timeline.
        logger.info("messenger echo skipped", extra={"app_id": echo.app_id})
    for receipt in batch.receipts:
        items.add(("receipt", receipt.psid), functools.partial(_record_receipt, receipt))
    return items


def _run(channel: str, items: ItemGroups, deadline: float) -> None:
    """Record every item; raises ServiceUnavailableError for items the budget left out."""
    outcome = run_groups(items, get_settings().webhook_workers, deadline)
    if outcome.not_started:
        logger.warning(
            "webhook delivery cut short",
            extra={
                "channel": channel,
                "items_finished": outcome.finished,
                "items_left": outcome.not_started,
            },
        )
        raise ServiceUnavailableError(
            f"{outcome.not_started} of {len(items)} items not recorded within the time "
            "budget; deliver the webhook again"
        )


def _deadline(context: Any) -> float:
    """Return the `clock.monotonic` time after which no item of this event starts.

    The budget starts now. With a Lambda context it is at most the same share of the
    function's remaining time as it is of API Gateway's timeout, so a function with a
    short timeout keeps a reserve for the items under way too.
    """
    budget = get_settings().webhook_budget_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        share = budget / API_GATEWAY_TIMEOUT_SECONDS
        budget = min(budget, remaining() / 1000 * share)
    return clock.monotonic() + budget


def _record_whatsapp_message(message: whatsapp.WhatsAppMessage) -> None:
    agency = _agency(whatsapp.WHATSAPP, message.phone_number_id)
    if agency is not None:
        _record(whatsapp.to_inbound(message, agency))


def _record_messenger_message(message: messenger.MessengerMessage) -> None:
    agency = _agency(messenger.MESSENGER, message.page_id)
    if agency is not None:
        _record(messenger.to_inbound(message, agency))


def _log_invalid(channel: str, items: tuple[InvalidItem, ...]) -> None:
    """Log one warning per invalid item with its path and error code, never its content."""
    for item in items:
        logger.warning(
            "invalid webhook item skipped",
            extra={"channel": channel, "path": item.path, "error_code": item.code},
        )


def _record(message: InboundMessage) -> None:
    # The items of one delivery run on several threads, so keys go to this thread's context.
    logger.thread_safe_append_keys(agency=message.agency.agency_id, channel=message.channel)
    result = record_inbound(message)
    logger.info(
        "message recorded",
        extra={
            "citizen_id": result.citizen_id,
            "case_id": result.case_id,
            "case_opened": result.case_opened,
            "duplicate": result.duplicate,
        },
    )


def _record_receipt(receipt: messenger.MessengerReceipt) -> None:
    status = "delivered" if receipt.kind == messenger.DELIVERY else "read"
    for message_id in receipt.message_ids:
        deliveries.record_status(messenger.MESSENGER, message_id, status, receipt.watermark)
    if receipt.message_ids:
        return
    agency = _agency(messenger.MESSENGER, receipt.page_id)
    if agency is not None:
        recipient = Identity(messenger.MESSENGER, receipt.psid, verified=True)
        deliveries.record_watermark(
            messenger.MESSENGER, agency.agency_id, recipient, status, receipt.watermark
        )


def _agency(kind: str, endpoint: str) -> AgencyConfig | None:
    """Return the agency that owns a number or page, or None after logging that none does."""
    try:
        return agency_for_endpoint(kind, endpoint)
    except NotFoundError:
        logger.warning("endpoint not configured", extra={"kind": kind, "endpoint": endpoint})
        return None


def _social_batch(index: int, message: str) -> whatsapp.WhatsAppBatch:
    where = f"Records[{index}].Sns.Message"
    try:
        return whatsapp.parse_social_notification(parse_json(message, where))
    except ValidationError as error:
        prefixed = with_prefix(error, where)
        if prefixed is error:
            raise
        raise prefixed from error


def _secret(name: str) -> str:
    """Return a secret from SSM; raises ServiceUnavailableError when it cannot be read."""
    try:
        value: Any = parameters.get_parameter(name, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.GetParameterError as error:
        logger.error("webhook secret unavailable", extra={"parameter": name})
        raise ServiceUnavailableError("webhook secret is not configured; retry later") from error
    if not value:
        logger.error("webhook secret empty", extra={"parameter": name})
        raise ServiceUnavailableError("webhook secret is not configured; retry later")
    return value


def _challenge_response(challenge: str) -> Response:
    return Response(body=challenge, status_code=200, headers=TEXT_HEADERS)
