"""Audit records of the agent API: written on every stage, and free of personal data.

A caller can put personal data in a path or use it as a body or query key by
mistake. So each test sends a phone number, an email address and a national id
there, and looks for them in the log lines.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fixtures_agents import JSON_HEADERS, open_chat, post_chat, post_json

REPOSITORY = Path(__file__).resolve().parents[2]
PHONE = "+525541637145"
EMAIL = "ana.perez@example.org"
NATIONAL_ID = "GODE561231HDFRRN09"
PERSONAL_DATA = [PHONE, EMAIL, NATIONAL_ID]
PERSONAL_DATA_IDS = ["phone", "email", "national-id"]
# The phone number is also searched for without its "+" and as its ten national digits.
SEARCHED_TEXT = [PHONE, PHONE.lstrip("+"), "5541637145", EMAIL, NATIONAL_ID]

# Writes one operational INFO line and one audit record with POWERTOOLS_LOG_LEVEL
# from the environment, as a Lambda container of that stage would.
AUDIT_PROBE = """\
from chalicelib.agents import audit
from chalicelib.observability import logger, start_event
start_event({"requestContext": {"requestId": "request-0001"}}, None)
logger.info("operational line")
audit.write(audit.AuditRecord(actor="agent-1", action="case.read", resource="cases/1"))
"""


@pytest.fixture
def chat_case(client):
    """A demo case opened by web chat, with the ids agents reach it by."""
    from chalicelib.store.models import ChatSession, chat_key

    session = open_chat(client, name="María López", phone=PHONE)
    post_chat(client, session, "Hay un bache frente a mi casa", "msg-1")
    stored = ChatSession.get(chat_key(session["session_id"]), "SESSION")
    return {"citizen_id": stored.citizen_id, "case_id": stored.case_id}


def _call(client, method, path, headers, body=None):
    if method == "GET":
        return client.http.get(path, headers=headers)
    return client.http.post(path, headers={**JSON_HEADERS, **headers}, body=json.dumps(body))


def _id_routes(value):
    """Every agent route with `value` as its path id, and the resource its audit names."""
    reply = {"text": "Vamos en camino", "idempotency_key": "reply-1"}
    return [
        ("GET", f"/citizens/{value}", None, "citizens/<invalid id>"),
        ("GET", f"/citizens/{value}/timeline", None, "citizens/<invalid id>/timeline"),
        ("GET", f"/cases/{value}", None, "cases/<invalid id>"),
        ("POST", f"/cases/{value}/replies", reply, "cases/<invalid id>/replies"),
    ]


def _leaked(lines):
    """Return the personal data found anywhere in the log lines."""
    text = json.dumps(lines, ensure_ascii=False)
    return [value for value in SEARCHED_TEXT if value in text]


def test_audit_written_when_log_level_is_warning(client, agent_tokens, chat_case, log_lines):
    from chalicelib.observability import logger

    operational = logging.getLogger(logger.service)
    previous = operational.level
    logger.setLevel(logging.WARNING)
    first_line = len(log_lines)
    try:
        # An auditor's case read is rejected with 403, which the handler logs at INFO.
        response = client.http.get(
            f"/cases/{chat_case['case_id']}", headers=agent_tokens.headers(roles=["auditor"])
        )
    finally:
        operational.setLevel(previous)

    assert response.status_code == 403
    (record,) = log_lines[first_line:]
    assert record["message"] == "audit"
    assert record["level"] == "INFO"
    assert record["service"] == "ventanilla"
    assert record["correlation_id"]
    assert record["action"] == "case.read"
    assert record["outcome"] == "denied"


def test_audit_written_on_warning_stage():
    environment = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    environment.pop("AWS_LAMBDA_LOG_LEVEL", None)

    result = subprocess.run(
        [sys.executable, "-c", AUDIT_PROBE],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["message"] for line in lines] == ["audit"]
    assert lines[0]["level"] == "INFO"
    assert lines[0]["correlation_id"] == "request-0001"
    assert lines[0]["actor"] == "agent-1"


@pytest.mark.parametrize("value", PERSONAL_DATA, ids=PERSONAL_DATA_IDS)
def test_invalid_path_id_audited_as_placeholder(
    client, agent_headers, audit_records, log_lines, value
):
    routes = _id_routes(value)

    responses = [
        _call(client, method, path, agent_headers, body) for method, path, body, _ in routes
    ]

    assert [response.status_code for response in responses] == [400] * len(routes)
    records = audit_records()
    assert [record["resource"] for record in records] == [route[3] for route in routes]
    assert [record["outcome"] for record in records] == ["invalid"] * len(routes)
    assert [record["reason"] for record in records] == [
        "invalid_request: citizen_id",
        "invalid_request: citizen_id",
        "invalid_request: case_id",
        "invalid_request: case_id",
    ]
    assert _leaked(log_lines) == []


@pytest.mark.parametrize("value", PERSONAL_DATA, ids=PERSONAL_DATA_IDS)
def test_rejected_token_hides_path_id(client, agent_tokens, audit_records, log_lines, value):
    routes = _id_routes(value)
    headers = agent_tokens.wrong_issuer()

    responses = [_call(client, method, path, headers, body) for method, path, body, _ in routes]

    assert [response.status_code for response in responses] == [401] * len(routes)
    records = audit_records()
    assert [record["action"] for record in records] == ["authenticate"] * len(routes)
    assert [record["resource"] for record in records] == [
        f"{method} {resource}" for method, _, _, resource in routes
    ]
    assert _leaked(log_lines) == []


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (f"GET/cases/{'0' * 32}/replies", f"GET cases/{'0' * 32}/replies"),
        ("POST/citizens/search", "POST citizens/search"),
        (f"GET/citizens/{EMAIL}/timeline", "GET citizens/<invalid id>/timeline"),
        (f"GET/citizens/{'0' * 32}\n", "GET citizens/<invalid id>"),
        ("GET/citizens/", "GET citizens/"),
        ("get/cases", "unknown cases"),
        ("", "unknown"),
    ],
    ids=["valid-id", "search", "email", "newline", "trailing-slash", "lower-case-method", "empty"],
)
def test_rejection_resource_of_method_arn(path, resource):
    from chalicelib.channels.agent_api import _resource_of

    arn = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/api"

    assert _resource_of(f"{arn}/{path}" if path else arn) == resource


@pytest.mark.parametrize("value", PERSONAL_DATA, ids=PERSONAL_DATA_IDS)
def test_unknown_field_left_out_of_audit(
    client, agent_headers, chat_case, audit_records, log_lines, value
):
    citizen_id, case_id = chat_case["citizen_id"], chat_case["case_id"]
    reply = {"text": "Vamos en camino", "idempotency_key": "reply-1", value: "1"}

    responses = [
        post_json(client, "/citizens/search", {value: "1"}, agent_headers),
        post_json(client, f"/cases/{case_id}/replies", reply, agent_headers),
        client.http.get(
            f"/citizens/{citizen_id}/timeline?{quote(value, safe='')}=1", headers=agent_headers
        ),
    ]

    assert [response.status_code for response in responses] == [400, 400, 400]
    records = audit_records()
    assert [record["outcome"] for record in records] == ["invalid"] * 3
    assert [record["reason"] for record in records] == ["invalid_request"] * 3
    assert _leaked(audit_records()) == []
    assert _leaked(log_lines) == []


def test_known_field_is_named_in_audit(client, agent_headers, audit_records):
    post_json(client, "/citizens/search", {"phone": "call me at 5541637145"}, agent_headers)

    (record,) = audit_records()
    assert record["outcome"] == "invalid"
    assert record["reason"] == "invalid_request: phone"
