"""Agents' replies through `POST /cases/{case_id}/replies` on SMS, WhatsApp, Messenger and email."""

import json
from email import message_from_bytes, policy

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto.ses.models import ses_backends

from tests import support
from tests import support_notify as notify_support
from tests.fixtures_agents import post_json
from tests.support import CITIZEN_PHONE
from tests.support_notify import EMAIL, PSID, WHATSAPP_ID

REPLY = "Una cuadrilla revisará el bache mañana."


@pytest.fixture
def sms(aws):
    return support.SmsOutbox.attach()


@pytest.fixture
def graph(aws, monkeypatch):
    with notify_support.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        notify_support.reload_settings()
        parameters.clear_caches()
        yield fake
    notify_support.reload_settings()
    parameters.clear_caches()


def reply(client, headers, case_id, text=REPLY, key="reply-1"):
    body = {"text": text, "idempotency_key": key}
    return post_json(client, f"/cases/{case_id}/replies", body, headers)


def body_of(response):
    return json.loads(response.body)


def replies(citizen_id):
    return [item for item in notify_support.outbound(citizen_id) if item["kind"] == "reply"]


def case_from(channel, kind, value, message_id, body="Hay un bache en Hidalgo"):
    result = notify_support.receive(channel, kind, value, body, message_id)
    return result.citizen_id, result.case_id


# SMS


def test_sms_reply_is_sent_once_per_key(client, agent_headers, sms):
    citizen_id, case_id = case_from("sms", "phone", CITIZEN_PHONE, "sms-in-1")

    first = reply(client, agent_headers, case_id)
    second = reply(client, agent_headers, case_id)

    assert first.status_code == 201
    assert second.status_code == 200
    assert body_of(second)["duplicate"] is True
    assert body_of(second)["contact_id"] == body_of(first)["contact_id"]
    assert [request["MessageBody"] for request in sms.sent].count(REPLY) == 1
    assert len(replies(citizen_id)) == 1


def test_sms_reply_records_agent_and_segments(client, agent_headers, sms):
    citizen_id, case_id = case_from("sms", "phone", CITIZEN_PHONE, "sms-in-1")

    reply(client, agent_headers, case_id)

    (contact,) = replies(citizen_id)
    assert contact["channel"] == "sms"
    assert contact["agent_id"] == "agent-demo-0001"
    assert contact["segments"] == 1
    assert contact["delivery_status"] == "sent"
    assert notify_support.pointer("sms", contact["external_id"])["contact_sk"] == contact["sk"]


def test_reply_updates_case_activity(client, agent_headers, sms):
    _, case_id = case_from("sms", "phone", CITIZEN_PHONE, "sms-in-1")

    sent = body_of(reply(client, agent_headers, case_id))

    case = support.case_item(case_id)
    assert case["contact_count"] == 2
    assert case["last_activity_at"] == sent["sent_at"]
    assert case["last_channel"] == "sms"


# WhatsApp


def test_whatsapp_reply_inside_window_is_free_text(client, agent_headers, graph):
    _, case_id = case_from("whatsapp", "whatsapp", WHATSAPP_ID, "wamid.in-1")

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    assert body_of(response)["channel"] == "whatsapp"
    assert graph.requests[-1].body["text"]["body"] == REPLY


def test_whatsapp_reply_outside_window_uses_template(client, agent_headers, graph):
    citizen_id, case_id = case_from("whatsapp", "whatsapp", WHATSAPP_ID, "wamid.in-1")
    notify_support.set_last_inbound("whatsapp", WHATSAPP_ID, "demo", hours_ago=26)

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    template = graph.requests[-1].body["template"]
    assert template["name"] == "ventanilla_case_update"
    assert template["components"][0]["parameters"][1] == {"type": "text", "text": REPLY}
    assert replies(citizen_id)[0]["template"] == "ventanilla_case_update"


def test_whatsapp_failed_reply_falls_back_to_sms(client, agent_headers, graph, sms):
    citizen_id, case_id = case_from("whatsapp", "whatsapp", WHATSAPP_ID, "wamid.in-1")
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    graph.fail_next(131047, message="Re-engagement message")

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    assert body_of(response)["channel"] == "sms"
    failed, sent = replies(citizen_id)
    assert (failed["channel"], failed["delivery_status"]) == ("whatsapp", "failed")
    assert failed["error_code"] == "131047"
    assert (sent["channel"], sent["delivery_status"]) == ("sms", "sent")


def test_whatsapp_fallback_retried_is_recorded_once(client, agent_headers, graph, sms):
    citizen_id, case_id = case_from("whatsapp", "whatsapp", WHATSAPP_ID, "wamid.in-1")
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    graph.fail_next(131047)

    first = reply(client, agent_headers, case_id)
    second = reply(client, agent_headers, case_id)

    assert body_of(second)["contact_id"] == body_of(first)["contact_id"]
    assert len(replies(citizen_id)) == 2
    assert [request["MessageBody"] for request in sms.sent].count(REPLY) == 1


# Messenger


def test_messenger_reply_inside_window(client, agent_headers, graph):
    _, case_id = case_from("messenger", "messenger", PSID, "m_in-1")

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    body = graph.requests[-1].body
    assert body["recipient"] == {"id": PSID}
    assert body["messaging_type"] == "RESPONSE"
    assert body["message"] == {"text": REPLY}


def test_messenger_reply_within_seven_days_uses_human_agent(client, agent_headers, graph):
    _, case_id = case_from("messenger", "messenger", PSID, "m_in-1")
    notify_support.set_last_inbound("messenger", PSID, "demo", hours_ago=72)

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    assert graph.requests[-1].body["tag"] == "HUMAN_AGENT"


def test_messenger_reply_after_seven_days_is_409(client, agent_headers, graph):
    citizen_id, case_id = case_from("messenger", "messenger", PSID, "m_in-1")
    notify_support.set_last_inbound("messenger", PSID, "demo", hours_ago=24 * 8)
    requests_before = len(graph.requests)

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 409
    message = body_of(response)["error"]["message"]
    assert "messenger: the citizen last wrote more than 24 hours ago" in message
    assert len(graph.requests) == requests_before
    assert replies(citizen_id)[-1]["delivery_status"] == "not_sent"


# Email


def test_email_reply_quotes_reference_in_subject(client, agent_headers, demo_agency):
    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress=demo_agency["email_address"]
    )
    _, case_id = case_from("email", "email", EMAIL, "ses-in-1", body="Bache en Hidalgo")
    reference = support.case_item(case_id)["reference"]

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    assert body_of(response)["channel"] == "email"
    sent = ses_backends["123456789012"]["us-east-1"].sent_messages[-1]
    mail = message_from_bytes(sent.raw_data.encode(), policy=policy.default)
    assert f"{reference[:3]}-{reference[3:6]}-{reference[6:]}" in mail["Subject"]
    assert mail.get_content().strip() == REPLY


# Opted-out channels


def test_opted_out_sms_reply_is_409_naming_why(client, agent_headers, sms):
    citizen_id, case_id = case_from("sms", "phone", CITIZEN_PHONE, "sms-in-1")
    notify_support.receive("sms", "phone", CITIZEN_PHONE, "STOP", "sms-in-2")
    sent_before = len(sms.sent)

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 409
    message = body_of(response)["error"]["message"]
    assert "sms: the citizen opted out of this channel" in message
    assert len(sms.sent) == sent_before
    (contact,) = replies(citizen_id)
    assert contact["delivery_status"] == "not_sent"
    assert support.case_item(case_id)["contact_count"] == 1


def test_opted_out_reply_retried_is_recorded_once(client, agent_headers, sms):
    citizen_id, case_id = case_from("sms", "phone", CITIZEN_PHONE, "sms-in-1")
    notify_support.receive("sms", "phone", CITIZEN_PHONE, "BAJA", "sms-in-2")

    first = reply(client, agent_headers, case_id)
    second = reply(client, agent_headers, case_id)

    assert first.status_code == 409
    assert second.status_code == 409
    assert len(replies(citizen_id)) == 1


def test_opted_out_whatsapp_reply_falls_back(client, agent_headers, graph, sms):
    citizen_id, case_id = case_from("whatsapp", "whatsapp", WHATSAPP_ID, "wamid.in-1")
    notify_support.link_identity(citizen_id, "phone", CITIZEN_PHONE)
    notify_support.receive("whatsapp", "whatsapp", WHATSAPP_ID, "STOP", "wamid.in-2")
    requests_before = len(graph.requests)

    response = reply(client, agent_headers, case_id)

    assert response.status_code == 201
    assert body_of(response)["channel"] == "sms"
    assert len(graph.requests) == requests_before
    assert replies(citizen_id)[0]["skipped_channels"]["whatsapp"] == "opted_out"


def test_email_reply_cites_citizen_message_id(client, agent_headers, demo_agency):
    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress=demo_agency["email_address"]
    )
    result = notify_support.receive(
        "email",
        "email",
        EMAIL,
        "Bache en Hidalgo",
        "ses-in-1",
        thread_id="<CAB123@mail.example.org>",
    )

    response = reply(client, agent_headers, result.case_id)

    assert response.status_code == 201
    sent = ses_backends["123456789012"]["us-east-1"].sent_messages[-1]
    mail = message_from_bytes(sent.raw_data.encode(), policy=policy.default)
    assert mail["In-Reply-To"] == "<CAB123@mail.example.org>"
    assert mail["References"] == "<CAB123@mail.example.org>"
