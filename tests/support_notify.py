"""Fakes and helpers for outbound messages: a Graph API on 127.0.0.1, provider stubs, citizens.

`GraphFake` is a real HTTP server on a loopback port that the product's Graph API
base URL setting points at, so the Cloud API and Send API requests go over HTTP as in
production and never leave the machine. End User Messaging SMS and Social sends are
answered by `before-call` handlers, because moto 5.2 does not implement them.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.awsrequest import AWSResponse

from chalicelib import agencies, aws, settings
from chalicelib.clock import isoformat_z
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import Identity, InboundMessage
from tests import support

SOCIAL_SERVICE = "socialmessaging"
SEND_WHATSAPP_EVENT = "before-call.socialmessaging.SendWhatsAppMessage"
WHATSAPP_ID = "+525541637145"
PSID = "6543210987654321"
EMAIL = "ana.lopez@example.org"


@dataclass
class GraphRequest:
    """One request the fake received: path, headers and JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class GraphFake:
    """A Graph API on 127.0.0.1 that records requests and returns queued responses.

    Without a queued response it accepts the message as Meta does: the Cloud API
    returns `messages[0].id` (`wamid.<n>`), the Send API `message_id` (`m_<n>`).
    """

    requests: list[GraphRequest] = field(default_factory=list)
    # (status, body) pairs, returned in order before the default responses.
    queued: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    delay_seconds: float = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_next(self, code: int, status: int = 400, message: str = "failed") -> None:
        """Make the next request fail with Meta's error shape and `code`."""
        error = {"message": message, "type": "OAuthException", "code": code}
        self.queued.append((status, {"error": error}))

    def to(self, path_suffix: str) -> list[GraphRequest]:
        return [request for request in self.requests if request.path.endswith(path_suffix)]

    def answer(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Record one request and return its response; thread-safe, so message ids stay unique."""
        with self._lock:
            self.requests.append(GraphRequest(path, headers or {}, body))
            if self.queued:
                return self.queued.pop(0)
            number = len(self.requests)
        if path.endswith("/me/messages"):
            return 200, {"recipient_id": body["recipient"]["id"], "message_id": f"m_{number}"}
        recipient = body.get("to", "")
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": recipient, "wa_id": recipient}],
            "messages": [{"id": f"wamid.{number}"}],
        }


@contextmanager
def graph_fake(delay_seconds: float = 0) -> Iterator[GraphFake]:
    """Serve a GraphFake on a free loopback port until the block ends."""
    fake = GraphFake(delay_seconds=delay_seconds)
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, answer = fake.answer(self.path, body, dict(self.headers))
            if fake.delay_seconds:
                stop.wait(fake.delay_seconds)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def graph_pointed_at_fake(monkeypatch: Any) -> Iterator[GraphFake]:
    """Serve a GraphFake and point the product's Graph API setting at it, for a fixture."""
    from aws_lambda_powertools.utilities import parameters

    with graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        reload_settings()
        parameters.clear_caches()
        yield fake
    reload_settings()
    parameters.clear_caches()


def reload_settings() -> settings.Settings:
    """Read the settings from the environment again, outside any Chalice test client call.

    The Chalice test client swaps in the environment of `.chalice/config.json`'s "dev"
    stage while it runs a handler, so settings first read there would name that stage.
    """
    settings.get_settings.cache_clear()
    return settings.get_settings()


class SocialOutbox:
    """Records End User Messaging Social SendWhatsAppMessage requests, with the message decoded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @classmethod
    def attach(cls) -> "SocialOutbox":
        outbox = cls()
        aws.client(SOCIAL_SERVICE).meta.events.register(SEND_WHATSAPP_EVENT, outbox._answer)
        return outbox

    def _answer(self, params: dict, **_: Any) -> tuple[AWSResponse, dict]:
        request = json.loads(params["body"])
        with self._lock:
            self.sent.append(request)
            message_id = f"social-{len(self.sent)}"
        return AWSResponse(params["url"], 200, {}, None), {"messageId": message_id}


class JsonBytes:
    """Equal to bytes that decode to the same JSON document, for Stubber's expected params."""

    def __init__(self, document: Any) -> None:
        self.document = document

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and json.loads(other) == self.document

    def __hash__(self) -> int:
        return hash(json.dumps(self.document, sort_keys=True))

    def __repr__(self) -> str:
        return f"JsonBytes({self.document!r})"


# Citizens and their identities


def receive(
    channel: str,
    kind: str,
    value: str,
    body: str,
    message_id: str,
    *,
    agency_id: str = "demo",
    occurred_at: datetime | None = None,
    **fields: Any,
) -> Any:
    """Record an inbound message of a verified sender through the journey service.

    `fields` sets more InboundMessage fields, such as an email's `thread_id`.
    """
    return record_inbound(
        InboundMessage(
            agency=agencies.get_agency(agency_id),
            channel=channel,
            external_id=message_id,
            body=body,
            occurred_at=occurred_at or datetime.now(UTC),
            sender=Identity(kind, value, verified=True),
            **fields,
        )
    )


def link_identity(citizen_id: str, kind: str, value: str, agency_id: str = "demo") -> None:
    """Give a citizen one more verified identity, as an agent's merge leaves it."""
    now = isoformat_z(datetime.now(UTC))
    support.table().put_item(
        Item={
            "pk": f"IDENTITY#{kind}#{value}",
            "sk": "LINK",
            "kind": kind,
            "value": value,
            "citizen_id": citizen_id,
            "verified": True,
            "source_channel": kind,
            "open_cases": {},
            "created_at": now,
        }
    )
    support.table().update_item(
        Key={"pk": f"CITIZEN#{citizen_id}", "sk": "PROFILE"},
        UpdateExpression="ADD verified_identities :entry",
        ExpressionAttributeValues={":entry": {f"{kind}#{value}"}},
    )


def set_profile(citizen_id: str, **values: Any) -> None:
    """Set attributes of a citizen's profile, such as preferred_channel or opt_outs."""
    names = {f"#{key}": key for key in values}
    support.table().update_item(
        Key={"pk": f"CITIZEN#{citizen_id}", "sk": "PROFILE"},
        UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in values),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{key}": value for key, value in values.items()},
    )


def set_last_inbound(kind: str, value: str, agency_id: str, hours_ago: float) -> None:
    """Move the time of an identity's last message to an agency `hours_ago` into the past."""
    stamp = isoformat_z(datetime.now(UTC) - timedelta(hours=hours_ago))
    support.table().update_item(
        Key={"pk": f"IDENTITY#{kind}#{value}", "sk": "LINK"},
        UpdateExpression="SET open_cases.#agency.last_inbound_at = :stamp",
        ExpressionAttributeNames={"#agency": agency_id},
        ExpressionAttributeValues={":stamp": stamp},
    )


def set_agency(agency_id: str, **values: Any) -> None:
    """Change an agency's settings and forget the cached copy."""
    names = {f"#{key}": key for key in values}
    support.table().update_item(
        Key={"pk": f"AGENCY#{agency_id}", "sk": "CONFIG"},
        UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in values),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{key}": value for key, value in values.items()},
    )
    agencies.clear_cache()


def outbound(citizen_id: str) -> list[dict]:
    """Return a citizen's outbound contacts, oldest first."""
    return [item for item in support.timeline(citizen_id) if item["direction"] == "outbound"]


def pointer(channel: str, message_id: str) -> dict | None:
    return support.get_item(f"OUTBOUND#{channel}#{message_id}", "CONTACT")
