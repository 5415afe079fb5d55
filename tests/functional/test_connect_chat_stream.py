"""connect_chat_stream: a Connect chat streamed to SNS, on the timeline once per message."""

import copy
import json
from typing import Any

import pytest

from chalicelib.errors import NotFoundError, ValidationError
from tests import support
from tests.support_connect import CALLER, citizen_of, flow_event, invoke_flow, make_known_caller

CONVERSATION = "2c4e6a8b-0d1f-4a3b-9c5d-7e9f1a3b5c01"
TRANSFERRED = "8e0a2c4d-6f8b-4d1e-a3c5-9b7d5f3e1a02"
CUSTOMER_TEXT = "Hola, quiero reportar una fuga de agua en la calle Juárez"


def stream(client: Any, name: str, sns_message_id: str | None = None, **changes: Any) -> None:
    """Deliver a sample chat stream event, with `changes` applied to the streamed document."""
    event = support.load_event(f"connect_chat_stream_{name}")
    notification = event["Records"][0]["Sns"]
    if sns_message_id is not None:
        notification["MessageId"] = sns_message_id
    if changes:
        document = json.loads(notification["Message"])
        document.update(changes)
        notification["Message"] = json.dumps(document, ensure_ascii=False)
    client.lambda_.invoke("connect_chat_stream", copy.deepcopy(event))


def chat_contacts(direction: str | None = None) -> list[dict]:
    """Return the chat's messages and notices, without the chat's own contact."""
    contacts = support.contacts(direction=direction, channel="connect_chat")
    return [item for item in contacts if item["kind"] != "call"]


def conversation_link() -> dict | None:
    return support.get_item(f"IDENTITY#connect_chat#{CONVERSATION}", "LINK")


def chat_contact() -> dict:
    """Return the chat's one contact, whose actions are its milestones."""
    contacts = support.contacts(channel="connect_chat")
    (contact,) = [item for item in contacts if item["kind"] == "call"]
    return contact


@pytest.fixture
def logs():
    yield from support.capture_logs()


# The customer's messages


def test_chat_customer_message_recorded(client):
    stream(client, "customer_message")

    (message,) = chat_contacts("inbound")
    link = conversation_link()
    assert message["body"] == CUSTOMER_TEXT
    assert message["kind"] == "message"
    assert message["external_id"] == "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d01"
    assert message["identity_kind"] == "connect_chat"
    assert message["citizen_id"] == link["citizen_id"]
    assert message["occurred_at"] == "2026-12-04T15:04:05.020Z"


def test_chat_first_message_opens_case(client):
    stream(client, "customer_message")

    (message,) = chat_contacts("inbound")
    case = support.case_item(message["case_id"])
    assert case["channel"] == "connect_chat"
    assert case["citizen_id"] == message["citizen_id"]
    assert conversation_link()["open_cases"]["demo"]["case_id"] == case["case_id"]


def test_chat_case_notice_not_sent_into_chat(client):
    """Nothing here can post into a Connect chat, so the reference notice records why."""
    stream(client, "customer_message")

    (notice,) = chat_contacts("outbound")
    assert notice["delivery_status"] == "not_sent"
    assert notice["error_code"] == "no_identity"


def test_chat_echo_recorded_once(client):
    stream(client, "customer_message", sns_message_id="3f5b7d9e-0000-5e4f-8b6d-0c2e4a6b8d01")
    stream(client, "customer_message", sns_message_id="3f5b7d9e-1111-5e4f-8b6d-0c2e4a6b8d01")

    assert len(chat_contacts("inbound")) == 1
    assert len(support.items_of_kind("EVENT#connect_chat#")) == 1
    assert len(support.items_of_kind("CITIZEN#", "PROFILE")) == 1


def test_chat_messages_share_one_case(client):
    stream(client, "customer_message")
    stream(client, "customer_message", Id="b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d09", Content="Sigue")

    first, second = chat_contacts("inbound")
    assert first["case_id"] == second["case_id"]
    assert first["citizen_id"] == second["citizen_id"]


def test_chat_transfer_keeps_conversation(client):
    stream(client, "customer_message")

    stream(client, "customer_message_after_transfer")

    first, second = chat_contacts("inbound")
    assert second["body"] == "Es frente al número 214"
    assert second["citizen_id"] == first["citizen_id"]
    assert second["case_id"] == first["case_id"]
    assert len(support.items_of_kind("IDENTITY#connect_chat#")) == 1


# Agents' and the flow's messages


def test_chat_agent_message_outbound_on_case(client):
    stream(client, "customer_message")
    (inbound,) = chat_contacts("inbound")

    stream(client, "agent_message")

    (reply,) = [item for item in chat_contacts("outbound") if item["kind"] == "reply"]
    assert reply["body"].startswith("Buenas tardes")
    assert reply["citizen_id"] == inbound["citizen_id"]
    assert reply["case_id"] == inbound["case_id"]
    assert reply["delivery_status"] == "delivered"
    assert support.case_item(inbound["case_id"])["contact_count"] == 2


def test_chat_agent_message_recorded_once(client):
    stream(client, "customer_message")

    stream(client, "agent_message")
    stream(client, "agent_message", sns_message_id="3f5b7d9e-2222-5e4f-8b6d-0c2e4a6b8d02")

    replies = [item for item in chat_contacts("outbound") if item["kind"] == "reply"]
    assert len(replies) == 1


def test_chat_agent_first_then_customer_one_profile(client):
    stream(client, "agent_message")
    stream(client, "customer_message")

    (reply,) = [item for item in chat_contacts("outbound") if item["kind"] == "reply"]
    (inbound,) = chat_contacts("inbound")
    assert reply["citizen_id"] == inbound["citizen_id"]
    assert "case_id" not in reply
    assert len(support.items_of_kind("CITIZEN#", "PROFILE")) == 1


def test_chat_system_message_recorded_as_notice(client):
    stream(client, "customer_message")

    stream(
        client,
        "agent_message",
        Id="b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d10",
        ParticipantRole="SYSTEM",
        Content="Gracias por escribirnos. Un agente le atenderá en breve.",
    )

    notices = [
        item
        for item in chat_contacts("outbound")
        if item["kind"] == "notice" and item["delivery_status"] == "delivered"
    ]
    assert [item["body"] for item in notices] == [
        "Gracias por escribirnos. Un agente le atenderá en breve."
    ]


# Events


def test_chat_milestones_on_chat_contact(client):
    stream(client, "customer_message")

    stream(client, "agent_joined")
    stream(client, "transfer_succeeded")
    stream(client, "chat_ended")

    contact = chat_contact()
    assert contact["actions"] == {"agent_joined", "transferred", "chat_ended"}
    assert contact["citizen_id"] == conversation_link()["citizen_id"]


def test_chat_redelivered_event_changes_nothing(client):
    stream(client, "agent_joined")
    before = support.scan_items()

    stream(client, "agent_joined", sns_message_id="3f5b7d9e-3333-5e4f-8b6d-0c2e4a6b8d03")

    assert support.scan_items() == before


def test_chat_customer_joined_is_skipped(client):
    before = support.scan_items()

    stream(client, "agent_joined", ParticipantRole="CUSTOMER")

    assert support.scan_items() == before


@pytest.mark.parametrize(
    "name", ["customer_typing", "message_metadata"], ids=["typing", "unknown_type"]
)
def test_chat_noise_is_skipped(client, name):
    before = support.scan_items()

    stream(client, name)

    assert support.scan_items() == before


def test_chat_unknown_message_type_is_skipped(client):
    before = support.scan_items()

    stream(client, "customer_message", Type="ATTACHMENT", ContentType="application/pdf")

    assert support.scan_items() == before


# A chat whose contact flow found the customer by their endpoint


def test_chat_identified_by_flow_joins_known_citizen(client, demo_agency):
    support.SmsOutbox.attach()
    reference = make_known_caller(client, demo_agency)
    event = flow_event(
        "connect_chat_channel",
        caller=CALLER,
        contact_id=CONVERSATION,
        parameters={"action": "identify"},
    )
    invoke_flow(client, event)

    stream(client, "customer_message")
    stream(client, "chat_ended")

    (message,) = chat_contacts("inbound")
    assert message["citizen_id"] == citizen_of(CALLER)
    assert message["case_reference"] == reference.replace("-", "")
    assert chat_contact()["actions"] == {"identify", "chat_ended"}


def test_chat_flow_identify_after_stream_keeps_link(client, demo_agency):
    support.SmsOutbox.attach()
    make_known_caller(client, demo_agency)
    stream(client, "customer_message")
    first_owner = conversation_link()["citizen_id"]

    event = flow_event("connect_chat_channel", caller=CALLER, contact_id=CONVERSATION)
    answer = invoke_flow(client, event)

    assert answer["result"] == "ok"
    assert conversation_link()["citizen_id"] == first_owner


# Invalid events: raised, so that Lambda retries and then parks them


def test_chat_unknown_instance_raises(client):
    event = support.load_event("connect_chat_stream_customer_message")
    attributes = event["Records"][0]["Sns"]["MessageAttributes"]
    attributes["InstanceId"]["Value"] = "00000000-0000-4000-8000-000000000000"

    with pytest.raises(NotFoundError):
        client.lambda_.invoke("connect_chat_stream", event)

    assert chat_contacts() == []


def test_chat_missing_instance_attribute_raises(client):
    event = support.load_event("connect_chat_stream_customer_message")
    del event["Records"][0]["Sns"]["MessageAttributes"]["InstanceId"]

    with pytest.raises(ValidationError) as raised:
        client.lambda_.invoke("connect_chat_stream", event)

    assert raised.value.field == "Records[0].Sns.MessageAttributes.InstanceId"


def test_chat_message_without_id_raises(client):
    event = support.load_event("connect_chat_stream_customer_message")
    document = json.loads(event["Records"][0]["Sns"]["Message"])
    del document["Id"]
    event["Records"][0]["Sns"]["Message"] = json.dumps(document)

    with pytest.raises(ValidationError) as raised:
        client.lambda_.invoke("connect_chat_stream", event)

    assert raised.value.field == "Records[0].Sns.Message.Id"


def test_chat_logs_contain_no_message_text(client, logs):
    stream(client, "customer_message")
    stream(client, "agent_message")
    lines = logs.lines()

    assert any('"chat message recorded"' in line for line in lines)
    assert not any("fuga de agua" in line for line in lines)
    assert not any("Buenas tardes" in line for line in lines)
