"""Reading a case and replying to the citizen through the agent API."""

import json
from datetime import timedelta

import pytest

from tests.fixtures_agents import (
    JSON_HEADERS,
    chat_messages,
    open_chat,
    post_chat,
    post_json,
    receive_sms,
)

PHONE = "+525541637145"
REPLY = "Una cuadrilla revisará el bache mañana."


def _body(response):
    return json.loads(response.body)


def _reply(client, headers, case_id, text=REPLY, key="reply-1"):
    body = {"text": text, "idempotency_key": key}
    return post_json(client, f"/cases/{case_id}/replies", body, headers)


def _stored_case(case_id):
    from chalicelib.store.models import Case, case_key

    return Case.get(case_key(case_id), "CASE")


@pytest.fixture
def chat_case(client):
    """A demo case opened by web chat, with its session and ids."""
    from chalicelib.store.models import ChatSession, chat_key

    session = open_chat(client, name="María López")
    answer = post_chat(client, session, "Hay un bache frente a mi casa", "msg-1")
    stored = ChatSession.get(chat_key(session["session_id"]), "SESSION")
    return {
        "session": session,
        "citizen_id": stored.citizen_id,
        "case_id": stored.case_id,
        "reference": answer["case_reference"],
    }


@pytest.fixture
def sms_case(client, demo_agency, sms_outbox):
    """A demo case opened by an SMS."""
    from chalicelib.store.models import IdentityLink, identity_key

    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body="Bache", message_id="s-1")
    link = IdentityLink.get(identity_key("phone", PHONE), "LINK")
    return link.open_cases.as_dict()["demo"]["case_id"]


def test_case_read_returns_case(client, agent_headers, chat_case):
    response = client.http.get(f"/cases/{chat_case['case_id']}", headers=agent_headers)

    assert response.status_code == 200
    case = _body(response)
    assert case["case_id"] == chat_case["case_id"]
    assert case["reference"] == chat_case["reference"]
    assert case["agency_id"] == "demo"
    assert case["citizen_id"] == chat_case["citizen_id"]
    assert case["status"] == "open"
    assert case["channel"] == "chat"
    assert case["subject"] == "Hay un bache frente a mi casa"
    assert case["contact_count"] == 1
    assert case["replies_available"] is True


def test_case_read_unknown_is_404(client, agent_headers):
    response = client.http.get(f"/cases/{'a' * 32}", headers=agent_headers)

    assert response.status_code == 404
    assert _body(response)["error"] == {
        "code": "not_found",
        "message": f"case {'a' * 32!r} not found",
        "field": "case_id",
    }


def test_case_read_other_agency_is_404(client, water_agent_headers, chat_case):
    case_id = chat_case["case_id"]

    response = client.http.get(f"/cases/{case_id}", headers=water_agent_headers)

    assert response.status_code == 404
    assert _body(response)["error"] == {
        "code": "not_found",
        "message": f"case {case_id!r} not found",
        "field": "case_id",
    }


def test_case_read_malformed_id_is_400(client, agent_headers):
    response = client.http.get("/cases/CASE%23x", headers=agent_headers)

    assert response.status_code == 400
    assert _body(response)["error"]["field"] == "case_id"


def test_reply_reaches_chat_session(client, agent_headers, chat_case):
    response = _reply(client, agent_headers, chat_case["case_id"])

    assert response.status_code == 201
    reply = _body(response)
    assert reply["case_reference"] == chat_case["reference"]
    assert reply["channel"] == "chat"
    assert reply["duplicate"] is False
    last = chat_messages(client, chat_case["session"])[-1]
    assert last["message_id"] == reply["contact_id"]
    assert last["author"] == "agent"
    assert last["direction"] == "outbound"
    assert last["text"] == REPLY


def test_reply_retried_is_sent_once(client, agent_headers, chat_case):
    first = _reply(client, agent_headers, chat_case["case_id"])
    second = _reply(client, agent_headers, chat_case["case_id"])

    assert first.status_code == 201
    assert second.status_code == 200
    assert _body(second)["duplicate"] is True
    assert _body(second)["contact_id"] == _body(first)["contact_id"]
    texts = [message["text"] for message in chat_messages(client, chat_case["session"])]
    assert texts.count(REPLY) == 1
    timeline = client.http.get(
        f"/citizens/{chat_case['citizen_id']}/timeline", headers=agent_headers
    )
    replies = [contact for contact in _body(timeline)["contacts"] if contact["kind"] == "reply"]
    assert len(replies) == 1
    assert _stored_case(chat_case["case_id"]).contact_count == 2


def test_reply_key_in_header_is_accepted(client, agent_headers, chat_case):
    headers = {**JSON_HEADERS, **agent_headers, "Idempotency-Key": "header-key-1"}
    path = f"/cases/{chat_case['case_id']}/replies"

    first = client.http.post(path, headers=headers, body=json.dumps({"text": REPLY}))
    second = client.http.post(path, headers=headers, body=json.dumps({"text": REPLY}))

    assert first.status_code == 201
    assert second.status_code == 200


def test_reply_key_reused_for_other_text_is_409(client, agent_headers, chat_case):
    _reply(client, agent_headers, chat_case["case_id"])

    response = _reply(client, agent_headers, chat_case["case_id"], text="Otro texto")

    assert response.status_code == 409
    assert _body(response)["error"]["field"] == "idempotency_key"


def test_reply_is_recorded_on_timeline(client, agent_headers, chat_case):
    reply = _body(_reply(client, agent_headers, chat_case["case_id"]))

    timeline = client.http.get(
        f"/citizens/{chat_case['citizen_id']}/timeline", headers=agent_headers
    )

    newest = _body(timeline)["contacts"][0]
    assert newest["contact_id"] == reply["contact_id"]
    assert newest["kind"] == "reply"
    assert newest["direction"] == "outbound"
    assert newest["channel"] == "chat"
    assert newest["text"] == REPLY
    assert newest["agent_id"] == "agent-demo-0001"
    assert newest["case_reference"] == chat_case["reference"]


def test_reply_updates_case_activity(client, agent_headers, chat_case):
    before = _stored_case(chat_case["case_id"])

    reply = _body(_reply(client, agent_headers, chat_case["case_id"]))

    after = _stored_case(chat_case["case_id"])
    assert after.contact_count == before.contact_count + 1
    assert after.last_activity_at == reply["sent_at"]
    assert after.status == "open"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": REPLY}, "idempotency_key"),
        ({"text": "", "idempotency_key": "k-1"}, "text"),
        ({"text": "x" * 4001, "idempotency_key": "k-1"}, "text"),
        ({"text": REPLY, "idempotency_key": "has spaces"}, "idempotency_key"),
        ({"text": REPLY, "idempotency_key": "k-1", "channel": "sms"}, "channel"),
    ],
    ids=["no-key", "empty", "too-long", "bad-key", "unknown-field"],
)
def test_reply_invalid_body_is_400(client, agent_headers, chat_case, body, field):
    response = post_json(client, f"/cases/{chat_case['case_id']}/replies", body, agent_headers)

    assert response.status_code == 400
    assert _body(response)["error"]["field"] == field


def test_reply_on_sms_case_is_sent_by_sms(client, agent_headers, sms_case, sms_outbox):
    response = _reply(client, agent_headers, sms_case)

    assert response.status_code == 201
    assert _body(response)["channel"] == "sms"
    assert _body(response)["delivery_status"] == "sent"
    assert sms_outbox[-1]["MessageBody"] == REPLY
    assert sms_outbox[-1]["DestinationPhoneNumber"] == PHONE


def test_sms_case_has_replies(client, agent_headers, sms_case):
    response = client.http.get(f"/cases/{sms_case}", headers=agent_headers)

    assert _body(response)["replies_available"] is True


def test_reply_ended_session_is_409(client, agent_headers, chat_case):
    from chalicelib.clock import utc_now
    from chalicelib.store.models import ChatSession, chat_key

    session = ChatSession.get(chat_key(chat_case["session"]["session_id"]), "SESSION")
    session.update(actions=[ChatSession.expires_at.set(utc_now() - timedelta(minutes=1))])

    response = _reply(client, agent_headers, chat_case["case_id"])

    assert response.status_code == 409
    assert "has ended" in _body(response)["error"]["message"]


def test_reply_other_agency_is_404(client, water_agent_headers, chat_case):
    response = _reply(client, water_agent_headers, chat_case["case_id"])

    assert response.status_code == 404
    assert REPLY not in [message["text"] for message in chat_messages(client, chat_case["session"])]


def test_reply_auditor_is_403(client, agent_tokens, chat_case):
    response = _reply(client, agent_tokens.headers(roles=["auditor"]), chat_case["case_id"])

    assert response.status_code == 403
    assert REPLY not in [message["text"] for message in chat_messages(client, chat_case["session"])]


def test_reply_writes_audit(client, agent_headers, chat_case, audit_records):
    _reply(client, agent_headers, chat_case["case_id"])

    (record,) = audit_records()
    assert record["actor"] == "agent-demo-0001"
    assert record["role"] == "agent"
    assert record["action"] == "case.reply"
    assert record["resource"] == f"cases/{chat_case['case_id']}/replies"
    assert record["case_id"] == chat_case["case_id"]
    assert record["citizen_id"] == chat_case["citizen_id"]
    assert record["outcome"] == "success"
    assert REPLY not in json.dumps(record)


def test_other_agency_reply_audits_denial(client, water_agent_headers, chat_case, audit_records):
    _reply(client, water_agent_headers, chat_case["case_id"])

    (record,) = audit_records()
    assert record["agency"] == "water"
    assert record["outcome"] == "denied"
    assert record["reason"] == "case belongs to another agency"
    assert "citizen_id" not in record


def test_case_read_writes_audit(client, agent_headers, chat_case, audit_records):
    client.http.get(f"/cases/{chat_case['case_id']}", headers=agent_headers)

    (record,) = audit_records()
    assert record["action"] == "case.read"
    assert record["outcome"] == "success"
    assert record["reason"] == "case belongs to the agent's agency"
