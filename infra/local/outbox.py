"""The local stand-in for carriers: sends that moto does not implement land in an outbox.

moto 5.2 returns 404 "Not yet implemented" for End User Messaging SMS
`SendTextMessage`, End User Messaging Social `SendWhatsAppMessage` and Connect
`StartOutboundVoiceContact` and `StartTaskContact`. `OutboxMiddleware` sits in front of
moto's WSGI app and responds to those operations with the response shape each service
documents. It records every message in memory and in an append-only JSON Lines file. A
Connect request that repeats a ClientToken gets the contact id of the first one and is
not recorded again, as Connect answers it. The app's code stays the same as in
production, because it calls the real APIs through boto3. Every other request passes
through to moto untouched.

The middleware also replaces Meta's Graph API under `GRAPH_PATH`, where the local stack
points `VENTANILLA_META_GRAPH_URL`. WhatsApp Cloud API and Messenger Send API messages
are recorded the same way, and the response has the shape of Meta's.
"""

import base64
import binascii
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from chalicelib.clock import isoformat_z, utc_now

logger = logging.getLogger(__name__)

OUTBOX_PATH = "/_outbox"
# The path prefix of the Graph API stand-in: `<GRAPH_PATH>/<version>/<node>/messages`.
GRAPH_PATH = "/_graph"
# Maximum body length on the console. The outbox keeps the whole text.
CONSOLE_BODY_LENGTH = 120


@dataclass(frozen=True)
class OutboundMessage:
    """One message the app sent, as a carrier would have received it."""

    channel: str
    operation: str
    message_id: str
    destination: str
    origination: str | None
    body: str | None
    sent_at: str
    details: dict[str, Any] = field(default_factory=dict)


class Outbox:
    """Thread-safe record of outbound messages, kept in memory and appended to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._messages: list[OutboundMessage] = []
        self._lock = threading.Lock()

    def record(self, message: OutboundMessage) -> None:
        line = json.dumps(asdict(message), ensure_ascii=False)
        with self._lock:
            self._messages.append(message)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        logger.info("%s", _console_line(message))

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(message) for message in self._messages]


def _console_line(message: OutboundMessage) -> str:
    body = message.body or ""
    if len(body) > CONSOLE_BODY_LENGTH:
        body = body[: CONSOLE_BODY_LENGTH - 1] + "…"
    origin = message.origination or "?"
    return f"outbox  {message.channel:<8} {origin} -> {message.destination}  {body!r}"


ParsedMessage = tuple[str, str | None, str | None, dict[str, Any]]


class InvalidRequestError(ValueError):
    """A send request that the real service would reject with ValidationException."""


@dataclass(frozen=True)
class Operation:
    """A send operation moto lacks: how to recognise, parse and respond to it."""

    name: str
    channel: str
    matches: Callable[[Request], bool]
    # Returns destination, origination, body and channel-specific details.
    parse: Callable[[dict[str, Any]], ParsedMessage]
    id_key: str
    # AWS's JSON protocol names the error in the body, and REST-JSON in a header.
    json_protocol: bool
    # True for operations whose ClientToken makes a repeated request return the first one's id.
    idempotent: bool = False


class OutboxMiddleware:
    """WSGI middleware in front of moto that responds to the operations in OPERATIONS."""

    def __init__(self, app: Callable[..., Iterable[bytes]], outbox: Outbox) -> None:
        self.app = app
        self.outbox = outbox
        # (operation, ClientToken) → the id returned to the token's first request.
        self._tokens: dict[tuple[str, str], str] = {}
        self._tokens_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.method == "GET" and request.path == OUTBOX_PATH:
            response = _json_response({"messages": self.outbox.messages()})
            return response(environ, start_response)
        if request.path.startswith(f"{GRAPH_PATH}/"):
            return self._respond_graph(request)(environ, start_response)
        operation = next((item for item in OPERATIONS if item.matches(request)), None)
        if operation is None:
            return self.app(environ, start_response)
        return self._respond(operation, request)(environ, start_response)

    def _respond(self, operation: Operation, request: Request) -> Response:
        try:
            payload = _json_body(request)
            destination, origination, body, details = operation.parse(payload)
        except InvalidRequestError as error:
            logger.warning("outbox rejected %s: %s", operation.name, error)
            return _validation_error(operation, str(error))
        token = payload.get("ClientToken") if operation.idempotent else None
        if isinstance(token, str) and token:
            with self._tokens_lock:
                earlier = self._tokens.get((operation.name, token))
                if earlier is None:
                    self._tokens[(operation.name, token)] = str(uuid.uuid4())
            if earlier is not None:
                logger.info("outbox repeated %s with the same ClientToken", operation.name)
                return _json_response({operation.id_key: earlier})
            message_id = self._tokens[(operation.name, token)]
        else:
            message_id = str(uuid.uuid4())
        message = OutboundMessage(
            channel=operation.channel,
            operation=operation.name,
            message_id=message_id,
            destination=destination,
            origination=origination,
            body=body,
            sent_at=isoformat_z(utc_now()),
            details=details,
        )
        if payload.get("DryRun") is True:
            logger.info("outbox dry run of %s to %s not recorded", operation.name, destination)
        else:
            self.outbox.record(message)
        content_type = "application/x-amz-json-1.0" if operation.json_protocol else None
        return _json_response({operation.id_key: message.message_id}, content_type=content_type)

    def _respond_graph(self, request: Request) -> Response:
        """Record a Graph API message send and respond as Meta does, or with Meta's error shape."""
        try:
            message = _parse_graph_message(request)
        except GraphRequestError as error:
            logger.warning("outbox rejected graph request %s: %s", request.path, error)
            body = {"error": {"message": str(error), "type": "OAuthException", "code": error.code}}
            return _json_response(body, error.status)
        self.outbox.record(message)
        if message.channel == "messenger":
            return _json_response(
                {"recipient_id": message.destination, "message_id": message.message_id}
            )
        return _json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": message.destination, "wa_id": message.destination}],
                "messages": [{"id": message.message_id}],
            }
        )


def _json_body(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(request.get_data() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"request body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise InvalidRequestError("request body must be a JSON object")
    return payload


def _required(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{key} is required")
    return value


def _signing_service(request: Request) -> str | None:
    """Return the service of a SigV4 Authorization header's credential scope."""
    authorization = request.headers.get("Authorization", "")
    marker = "Credential="
    if marker not in authorization:
        return None
    scope = authorization.split(marker, 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else None


def _parse_text_message(payload: dict[str, Any]) -> ParsedMessage:
    details = {
        key: payload[key] for key in ("MessageType", "ConfigurationSetName") if key in payload
    }
    body = payload.get("MessageBody") or ""
    return (
        _required(payload, "DestinationPhoneNumber"),
        payload.get("OriginationIdentity"),
        body,
        details,
    )


def _parse_whatsapp_message(payload: dict[str, Any]) -> ParsedMessage:
    """Decode the Meta message object that SendWhatsAppMessage carries as a base64 blob."""
    origination = _required(payload, "originationPhoneNumberId")
    try:
        message = json.loads(base64.b64decode(_required(payload, "message"), validate=True))
    except (binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequestError("message must be a base64-encoded JSON object") from error
    if not isinstance(message, dict) or not isinstance(message.get("to"), str):
        raise InvalidRequestError("message must be a WhatsApp message object with 'to'")
    details = {"metaApiVersion": payload.get("metaApiVersion"), "message": message}
    return message["to"], origination, _whatsapp_text(message), details


def _whatsapp_text(message: dict[str, Any]) -> str:
    kind = message.get("type", "text")
    content = message.get(kind)
    if kind == "text" and isinstance(content, dict):
        return str(content.get("body", ""))
    if kind == "template" and isinstance(content, dict):
        return f"template {content.get('name')}"
    return f"{kind} message"


def _parse_voice_contact(payload: dict[str, Any]) -> ParsedMessage:
    flow = _required(payload, "ContactFlowId")
    details = {
        "InstanceId": _required(payload, "InstanceId"),
        "ContactFlowId": flow,
        "Attributes": payload.get("Attributes") or {},
    }
    body = f"call through contact flow {flow}"
    return (
        _required(payload, "DestinationPhoneNumber"),
        payload.get("SourcePhoneNumber"),
        body,
        details,
    )


def _parse_task_contact(payload: dict[str, Any]) -> ParsedMessage:
    """Read a callback task: the number to call is its `callback_number` attribute."""
    attributes = payload.get("Attributes") or {}
    if not isinstance(attributes, dict):
        raise InvalidRequestError("Attributes must be a map of strings")
    details = {
        "InstanceId": _required(payload, "InstanceId"),
        "ContactFlowId": _required(payload, "ContactFlowId"),
        "PreviousContactId": payload.get("PreviousContactId"),
        "Attributes": attributes,
        "References": payload.get("References") or {},
    }
    body = f"{payload.get('Name') or 'task'}: {payload.get('Description') or ''}".strip()
    destination = str(attributes.get("callback_number") or "")
    return destination, attributes.get("callback_queue_arn"), body, details


OPERATIONS = (
    Operation(
        name="SendTextMessage",
        channel="sms",
        matches=lambda request: (
            request.method == "POST"
            and request.headers.get("X-Amz-Target") == "PinpointSMSVoiceV2.SendTextMessage"
        ),
        parse=_parse_text_message,
        id_key="MessageId",
        json_protocol=True,
    ),
    Operation(
        name="SendWhatsAppMessage",
        channel="whatsapp",
        matches=lambda request: (
            request.method == "POST"
            and request.path == "/v1/whatsapp/send"
            and _signing_service(request) == "social-messaging"
        ),
        parse=_parse_whatsapp_message,
        id_key="messageId",
        json_protocol=False,
    ),
    Operation(
        name="StartOutboundVoiceContact",
        channel="voice",
        matches=lambda request: (
            request.method == "PUT"
            and request.path == "/contact/outbound-voice"
            and _signing_service(request) == "connect"
        ),
        parse=_parse_voice_contact,
        id_key="ContactId",
        json_protocol=False,
        idempotent=True,
    ),
    Operation(
        name="StartTaskContact",
        channel="task",
        matches=lambda request: (
            request.method == "PUT"
            and request.path == "/contact/task"
            and _signing_service(request) == "connect"
        ),
        parse=_parse_task_contact,
        id_key="ContactId",
        json_protocol=False,
        idempotent=True,
    ),
)


def _json_response(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type=content_type or "application/json",
    )


def _validation_error(operation: Operation, message: str) -> Response:
    if operation.json_protocol:
        body = {"__type": "ValidationException", "Message": message}
        return _json_response(body, 400, content_type="application/x-amz-json-1.0")
    headers = {"x-amzn-ErrorType": "ValidationException"}
    return _json_response({"message": message}, 400, headers=headers)


# Meta's Graph API: WhatsApp Cloud API and Messenger Send API sends


class GraphRequestError(ValueError):
    """A Graph API request that Meta would reject, with Meta's error code and HTTP status."""

    def __init__(self, message: str, code: int = 100, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


_GRAPH_MESSAGES = re.compile(rf"^{GRAPH_PATH}/v\d+\.\d+/(?P<node>[\w.-]+)/messages$")


def _parse_graph_message(request: Request) -> OutboundMessage:
    """Return the message of `POST <version>/<phone number id>/messages` or `me/messages`."""
    match = _GRAPH_MESSAGES.match(request.path)
    if request.method != "POST" or match is None:
        raise GraphRequestError(f"unsupported request {request.method} {request.path}", status=404)
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        raise GraphRequestError("an access token is required", code=190, status=401)
    try:
        payload = _json_body(request)
    except InvalidRequestError as error:
        raise GraphRequestError(str(error)) from error
    node = match["node"]
    if node == "me":
        recipient = payload.get("recipient")
        message = payload.get("message")
        if not isinstance(recipient, dict) or not isinstance(message, dict):
            raise GraphRequestError("recipient and message are required")
        details = {key: payload[key] for key in ("messaging_type", "tag") if key in payload}
        return _graph_message(
            "messenger", str(recipient.get("id")), "page", message.get("text"), details
        )
    if not isinstance(payload.get("to"), str):
        raise GraphRequestError("to is required")
    details = {"message": payload}
    return _graph_message("whatsapp", payload["to"], node, _whatsapp_text(payload), details)


def _graph_message(
    channel: str, destination: str, origination: str, body: str | None, details: dict
) -> OutboundMessage:
    prefix = "m_" if channel == "messenger" else "wamid."
    return OutboundMessage(
        channel=channel,
        operation="GraphAPI",
        message_id=f"{prefix}{uuid.uuid4().hex}",
        destination=destination,
        origination=origination,
        body=body,
        sent_at=isoformat_z(utc_now()),
        details=details,
    )
