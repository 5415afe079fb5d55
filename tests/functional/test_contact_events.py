"""Connect contact events (`connect_contact_events`) merged into the caller's timeline.

The samples under tests/events/contact_event_*.json follow the EventBridge envelope
and the `detail` fields of Connect's contact events data model. They describe one
inbound call of 2026-03-02 (contact id 5f1b2a9e-...): initiated 15:04:05 UTC,
queued 15:05:09, answered 15:06:51, disconnected 15:12:30, after contact work done
15:14:01. A caller becomes known through an SMS from their phone, which the SMS
channel verifies.
"""

import copy
import itertools
import json
from pathlib import Path

import pytest

from tests.fixtures_agents import identify_call, receive_sms
from tests.support import items_of_kind

EVENTS_DIR = Path(__file__).parent.parent / "events"
PHONE = "+525541637145"
CONTACT_ID = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
SECOND_LEG = "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e11"
QUEUE_ARN = (
    "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
    "/queue/5c1d7a2e-3b4f-4c6d-8e9f-0a1b2c3d4e50"
)
AGENT_ARN = (
    "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
    "/agent/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c60"
)
LIFECYCLE = (
    "contact_event_initiated",
    "contact_event_connected_to_system",
    "contact_event_queued",
    "contact_event_connected_to_agent",
    "contact_event_disconnected",
    "contact_event_completed",
)
COMPLETED_LEG = {
    "status": "completed",
    "status_rank": 6,
    "channel": "VOICE",
    "initiation_method": "INBOUND",
    "initiated_at": "2026-03-02T15:04:05.120Z",
    "connected_to_system_at": "2026-03-02T15:04:05.480Z",
    "enqueued_at": "2026-03-02T15:05:09.730Z",
    "connected_to_agent_at": "2026-03-02T15:06:51.905Z",
    "disconnected_at": "2026-03-02T15:12:30.660Z",
    "after_contact_work_end_at": "2026-03-02T15:14:01.100Z",
    "queue_arn": QUEUE_ARN,
    "agent_arn": AGENT_ARN,
    "disconnect_reason": "CUSTOMER_DISCONNECT",
}


def load_event(name):
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def send_event(client, event):
    return client.lambda_.invoke("connect_contact_events", copy.deepcopy(event))


def without_caller(name):
    event = load_event(name)
    event["detail"].pop("customerEndpoint", None)
    return event


def call_contacts():
    return [item for item in items_of_kind("CITIZEN#", "CONTACT#") if item["kind"] == "call"]


def only_call():
    (call,) = call_contacts()
    return call


@pytest.fixture
def known_caller(client, demo_agency, sms_outbox):
    """Make PHONE a verified number of a citizen, as their first SMS does."""
    receive_sms(
        client, sender=PHONE, to=demo_agency["sms_number"], body="Hay un bache", message_id="s-1"
    )
    (link,) = items_of_kind(f"IDENTITY#phone#{PHONE}", "LINK")
    return link["citizen_id"]


def identify(client, demo_agency):
    return identify_call(
        client,
        caller=PHONE,
        instance_arn=demo_agency["connect_instance_arn"],
        contact_id=CONTACT_ID,
    )


def test_contact_events_in_order_merge_into_identify_call(client, demo_agency, known_caller):
    identify(client, demo_agency)

    for name in LIFECYCLE:
        send_event(client, without_caller(name))

    call = only_call()
    assert call["citizen_id"] == known_caller
    assert call["actions"] == {"identify"}
    assert call["call_legs"] == {CONTACT_ID: COMPLETED_LEG}
    assert call["call_version"] == 6


def test_contact_events_any_order_give_one_leg(client, demo_agency, known_caller):
    identify(client, demo_agency)
    # DISCONNECTED first, QUEUED after it, and every event delivered twice.
    order = [
        "contact_event_disconnected",
        "contact_event_completed",
        "contact_event_queued",
        "contact_event_initiated",
        "contact_event_connected_to_agent",
        "contact_event_connected_to_system",
    ]

    for name in itertools.chain.from_iterable(zip(order, order, strict=True)):
        send_event(client, without_caller(name))

    call = only_call()
    assert call["call_legs"] == {CONTACT_ID: COMPLETED_LEG}
    # DISCONNECTED and COMPLETED changed the leg; every later event was already known.
    assert call["call_version"] == 2


def test_contact_events_duplicate_changes_nothing(client, demo_agency, known_caller):
    identify(client, demo_agency)
    send_event(client, without_caller("contact_event_queued"))
    before = only_call()

    send_event(client, without_caller("contact_event_queued"))

    assert only_call() == before


def test_contact_events_disconnect_without_agent_or_system_time(client, demo_agency, known_caller):
    identify(client, demo_agency)

    send_event(client, without_caller("contact_event_disconnected_in_queue"))
    send_event(client, without_caller("contact_event_queued"))

    leg = only_call()["call_legs"][CONTACT_ID]
    assert leg["status"] == "disconnected"
    assert leg["enqueued_at"] == "2026-03-02T15:05:09.730Z"
    assert leg["disconnected_at"] == "2026-03-02T15:08:01.300Z"
    assert leg["connected_to_system_at"] == "2026-03-02T15:04:05.480Z"
    assert "connected_to_agent_at" not in leg
    assert "agent_arn" not in leg


def test_contact_event_status_never_regresses(client, demo_agency, known_caller):
    identify(client, demo_agency)
    send_event(client, without_caller("contact_event_connected_to_agent"))

    send_event(client, without_caller("contact_event_initiated"))
    send_event(client, without_caller("contact_event_contact_data_updated"))

    leg = only_call()["call_legs"][CONTACT_ID]
    assert leg["status"] == "connected_to_agent"
    assert leg["status_rank"] == 4


def test_contact_event_before_identify_one_call(client, demo_agency, known_caller):
    send_event(client, load_event("contact_event_initiated"))

    identify(client, demo_agency)
    send_event(client, without_caller("contact_event_queued"))

    call = only_call()
    assert call["citizen_id"] == known_caller
    assert call["actions"] == {"identify"}
    assert call["occurred_at"] == "2026-03-02T15:04:05.120Z"
    assert call["identity_kind"] == "phone"
    assert call["identity_verified"] is False
    assert call["call_legs"][CONTACT_ID]["status"] == "queued"


def test_contact_event_unknown_caller_gets_provisional_profile(client):
    send_event(client, load_event("contact_event_initiated"))

    call = only_call()
    (claim,) = items_of_kind(f"IDENTITY#phone#{PHONE}", "CLAIM#")
    assert claim["citizen_id"] == call["citizen_id"]
    assert claim["source_channel"] == "voice"
    assert items_of_kind(f"IDENTITY#phone#{PHONE}", "LINK") == []


def test_contact_event_withheld_caller_not_recorded(client, log_lines):
    send_event(client, without_caller("contact_event_queued"))

    assert call_contacts() == []
    messages = [line["message"] for line in log_lines]
    assert "call progress not recorded: caller unknown" in messages


def test_contact_event_unknown_type_ignored(client, demo_agency, known_caller, log_lines):
    identify(client, demo_agency)
    before = only_call()

    response = send_event(client, load_event("contact_event_unknown_type"))

    assert response.payload is None
    assert only_call() == before
    (ignored,) = [line for line in log_lines if line["message"] == "contact event type ignored"]
    assert ignored["event_type"] == "AMD_DISABLED"
    assert ignored["contact_id"] == CONTACT_ID


def test_contact_event_pascal_case_keys_merge(client, demo_agency, known_caller):
    identify(client, demo_agency)

    send_event(client, load_event("contact_event_pascal_case"))

    leg = only_call()["call_legs"][CONTACT_ID]
    assert leg["status"] == "connected_to_agent"
    assert leg["channel"] == "VOICE"
    assert leg["queue_arn"] == QUEUE_ARN
    assert leg["agent_arn"] == AGENT_ARN


def test_contact_event_transfer_adds_leg(client, demo_agency, known_caller):
    identify(client, demo_agency)
    send_event(client, without_caller("contact_event_disconnected"))
    transferred = without_caller("contact_event_queued")
    transferred["detail"].update(
        contactId=SECOND_LEG,
        previousContactId=CONTACT_ID,
        initiationMethod="TRANSFER",
        initiationTimestamp="2026-03-02T15:12:30.700Z",
    )

    send_event(client, transferred)

    legs = only_call()["call_legs"]
    assert set(legs) == {CONTACT_ID, SECOND_LEG}
    assert legs[SECOND_LEG]["status"] == "queued"
    assert legs[SECOND_LEG]["initiation_method"] == "TRANSFER"
    assert legs[CONTACT_ID]["status"] == "disconnected"


@pytest.mark.parametrize(
    "change",
    [
        lambda event: event["detail"].pop("contactId"),
        lambda event: event["detail"].update(instanceArn=None),
        lambda event: event["detail"].update(disconnectTimestamp="yesterday"),
        lambda event: event.update(detail="not an object"),
    ],
    ids=["missing contact id", "null instance", "bad timestamp", "detail not an object"],
)
def test_contact_event_malformed_is_dropped(client, log_lines, change):
    event = load_event("contact_event_disconnected")
    change(event)

    response = send_event(client, event)

    assert response.payload is None
    assert call_contacts() == []
    assert [line["message"] for line in log_lines].count("contact event rejected") == 1
    assert "yesterday" not in json.dumps(log_lines)


def test_contact_event_unknown_instance_is_dropped(client, log_lines):
    event = load_event("contact_event_initiated")
    event["detail"]["instanceArn"] = (
        "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-000000000000"
    )

    send_event(client, event)

    assert call_contacts() == []
    messages = [line["message"] for line in log_lines]
    assert "contact event rejected: no agency owns the instance" in messages


def test_contact_event_logs_no_phone_number(client, log_lines):
    send_event(client, load_event("contact_event_initiated"))

    text = json.dumps(log_lines)
    assert PHONE not in text
    assert PHONE[3:] not in text


def test_contact_event_correlation_id_is_contact(client, log_lines):
    send_event(client, without_caller("contact_event_queued"))

    assert {line.get("correlation_id") for line in log_lines} == {CONTACT_ID}


def test_timeline_shows_call_progress(client, demo_agency, known_caller, agent_headers):
    identify(client, demo_agency)
    for name in LIFECYCLE:
        send_event(client, without_caller(name))

    response = client.http.get(f"/citizens/{known_caller}/timeline", headers=agent_headers)

    assert response.status_code == 200
    (entry,) = [item for item in response.json_body["contacts"] if item["kind"] == "call"]
    call = entry["call"]
    assert call["status"] == "completed"
    assert call["started_at"] == "2026-03-02T15:04:05.120Z"
    assert call["answered_at"] == "2026-03-02T15:06:51.905Z"
    assert call["ended_at"] == "2026-03-02T15:12:30.660Z"
    assert call["disconnect_reason"] == "CUSTOMER_DISCONNECT"
    assert [leg["contact_id"] for leg in call["legs"]] == [CONTACT_ID]
    assert call["legs"][0]["enqueued_at"] == "2026-03-02T15:05:09.730Z"
