"""Audit records of the agent API: written on every stage, whatever its log level."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_agents import open_chat, post_chat

REPOSITORY = Path(__file__).resolve().parents[2]
PHONE = "+525541637145"

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
