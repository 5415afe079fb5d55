"""Fixtures of signed-in agents: a development signing key, tokens, and audit lines as data.

The key pair is created once per session. Each test that uses tokens puts the
public key into its own moto SSM, where the authorizer reads it in development mode.
The helpers at the end drive a citizen's contacts through the public seams, so the
agent API has something to read.
"""

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

DEMO_AGENT = "agent-demo-0001"
WATER_AGENT = "agent-water-0001"
TOKEN_TTL_SECONDS = 900


@dataclass
class AgentTokens:
    """Mints development tokens; every claim can be overridden to build a bad one."""

    private_key: Any

    def token(
        self,
        *,
        sub: str = DEMO_AGENT,
        name: str | None = "Ana Agente",
        roles: Iterable[str] = ("agent",),
        agency_id: str | None = "demo",
        ttl_seconds: int = TOKEN_TTL_SECONDS,
        **overrides: Any,
    ) -> str:
        from infra.local import dev_keys

        return dev_keys.mint_token(
            overrides.pop("private_key", self.private_key),
            sub=sub,
            name=name,
            roles=roles,
            agency_id=agency_id,
            ttl_seconds=ttl_seconds,
            **overrides,
        )

    def headers(self, **claims: Any) -> dict[str, str]:
        return bearer(self.token(**claims))

    def expired(self, **claims: Any) -> dict[str, str]:
        return self.headers(ttl_seconds=-120, **claims)

    def wrong_issuer(self, **claims: Any) -> dict[str, str]:
        return self.headers(issuer="https://issuer.invalid/ventanilla", **claims)

    def other_agency(self, agency_id: str = "water", **claims: Any) -> dict[str, str]:
        return self.headers(sub=WATER_AGENT, agency_id=agency_id, **claims)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def development_key():
    from infra.local import dev_keys

    return dev_keys.generate_key()


@pytest.fixture
def agent_tokens(aws, development_key):
    """Token minting for agents, with the public key in this test's moto SSM."""
    from aws_lambda_powertools.utilities import parameters

    from chalicelib.auth import keys
    from infra.local import dev_keys

    parameters.clear_caches()
    keys.clear_cache()
    dev_keys.put_public_key(boto3.client("ssm", region_name="us-east-1"), "test", development_key)
    yield AgentTokens(development_key)
    parameters.clear_caches()
    keys.clear_cache()


@pytest.fixture
def agent_headers(agent_tokens):
    """Headers of a signed-in agent of the demo agency."""
    return agent_tokens.headers()


@pytest.fixture
def water_agent_headers(agent_tokens):
    """Headers of a signed-in agent of the second seeded agency, "water"."""
    return agent_tokens.other_agency()


class _JsonLines(logging.Handler):
    """Keeps each log line as the JSON document powertools would print."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines():
    """Every line the product logs during the test, parsed."""
    from chalicelib.observability import logger

    handler = _JsonLines(logger.registered_formatter)
    target = logging.getLogger(logger.service)
    target.addHandler(handler)
    yield handler.lines
    target.removeHandler(handler)


@pytest.fixture
def audit_records(log_lines):
    """Return a function that lists the audit lines logged so far in the test."""

    def records() -> list[dict[str, Any]]:
        return [line for line in log_lines if line.get("message") == "audit"]

    return records


JSON_HEADERS = {"Content-Type": "application/json"}


def post_json(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(
        path, headers={**JSON_HEADERS, **(headers or {})}, body=json.dumps(body)
    )


def open_chat(client: Any, agency_id: str = "demo", **fields: Any) -> dict[str, Any]:
    """Open a web chat session and return its JSON response, token included."""
    response = post_json(client, "/chat/sessions", {"agency_id": agency_id, **fields})
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def post_chat(client: Any, session: dict[str, Any], text: str, key: str) -> dict[str, Any]:
    headers = {"X-Session-Token": session["session_token"]}
    path = f"/chat/sessions/{session['session_id']}/messages"
    response = post_json(client, path, {"text": text, "idempotency_key": key}, headers)
    assert response.status_code in (200, 201), response.body
    return json.loads(response.body)


def chat_messages(client: Any, session: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.http.get(
        f"/chat/sessions/{session['session_id']}/messages",
        headers={"X-Session-Token": session["session_token"]},
    )
    assert response.status_code == 200, response.body
    return json.loads(response.body)["messages"]


def receive_sms(client: Any, *, sender: str, to: str, body: str, message_id: str) -> None:
    """Deliver one inbound SMS as End User Messaging SMS publishes it to SNS."""
    payload = {
        "originationNumber": sender,
        "destinationNumber": to,
        "messageBody": body,
        "inboundMessageId": message_id,
    }
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:ventanilla-test-inbound-sms",
                    "Subject": None,
                    "Message": json.dumps(payload),
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    client.lambda_.invoke("inbound_sms", event)


def identify_call(client: Any, *, caller: str, instance_arn: str, contact_id: str) -> dict:
    """Invoke the contact flow Lambda as Connect's identify step does."""
    event = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": {},
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": instance_arn,
                "LanguageCode": "es-MX",
                "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+525550000101", "Type": "TELEPHONE_NUMBER"},
            },
            "Parameters": {"action": "identify"},
        },
    }
    return client.lambda_.invoke("connect_contact_flow", event).payload


@pytest.fixture
def sms_outbox(aws) -> list[dict[str, Any]]:
    """Stub End User Messaging SMS `SendTextMessage`, which moto 5.2 does not implement.

    Returns the list that collects each send's request parameters.
    """
    from botocore.awsrequest import AWSResponse

    from chalicelib import aws as aws_clients

    sent: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        sent.append(json.loads(params["body"]))
        response = AWSResponse("https://sms-voice.invalid/", 200, {}, None)
        return response, {"MessageId": f"stub-sms-{len(sent)}"}

    events = aws_clients.client("pinpoint-sms-voice-v2").meta.events
    events.register("before-call.pinpoint-sms-voice-v2.SendTextMessage", answer)
    return sent
