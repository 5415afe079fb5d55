"""Case rules: references, the items a new case writes, the agency queue, reopening."""

import re

import pytest
from boto3.dynamodb.conditions import Key

from chalicelib.journey import inbound
from chalicelib.journey.references import format_reference, is_valid_reference, new_reference
from tests import support
from tests.support import CITIZEN_PHONE, OTHER_PHONE


@pytest.fixture
def outbox(aws):
    return support.SmsOutbox.attach()


def deliver(client, name, **changes):
    support.invoke_sms(client, support.sms_event(name, **changes))


def demo_case_of(phone):
    """Return the case that a phone's owner has open with the demo agency."""
    return support.case_item(support.phone_link(phone)["open_cases"]["demo"]["case_id"])


def open_queue(agency_id="demo", status="open"):
    """Return the agency's cases in one status through the `gsi1` index, in index order."""
    response = support.table().query(
        IndexName="gsi1",
        KeyConditionExpression=Key("gsi1pk").eq(f"AGENCY#{agency_id}#STATUS#{status}"),
    )
    return response["Items"]


# References


def test_case_reference_is_nine_damm_digits(client, outbox):
    deliver(client, "sms_first_message")

    reference = demo_case_of(CITIZEN_PHONE)["reference"]
    assert re.fullmatch(r"[1-9]\d{8}", reference)
    assert is_valid_reference(reference)


def test_case_reference_is_shown_grouped(client):
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    formatted = response.json_body["case_reference"]
    stored = support.chat_session_item(session.session_id)["case_reference"]
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}", formatted)
    assert formatted == format_reference(stored)


def test_case_reference_in_sms_notice_is_grouped(client, outbox):
    deliver(client, "sms_first_message")

    reference = demo_case_of(CITIZEN_PHONE)["reference"]
    assert format_reference(reference) in outbox.sent[0]["MessageBody"]


# The items of a new case


def test_case_items_are_written_together(client, outbox):
    deliver(client, "sms_first_message")

    case = demo_case_of(CITIZEN_PHONE)
    pointer = support.reference_item(case["reference"])
    citizen_case = support.get_item(f"CITIZEN#{case['citizen_id']}", f"CASE#{case['case_id']}")
    assert pointer["case_id"] == case["case_id"]
    assert pointer["agency_id"] == "demo"
    assert pointer["citizen_id"] == case["citizen_id"]
    assert citizen_case["reference"] == case["reference"]
    assert citizen_case["status"] == "open"
    assert citizen_case["agency_id"] == "demo"


def test_case_records_first_message_as_subject(client, outbox):
    event = support.load_event("sms_first_message")
    support.invoke_sms(client, event)

    case = demo_case_of(CITIZEN_PHONE)
    assert case["subject"] == support.sms_payload(event)["messageBody"]
    assert case["contact_count"] == 1


def test_case_reference_collision_retries_with_new_reference(client, outbox, monkeypatch):
    deliver(client, "sms_first_message")
    existing = demo_case_of(CITIZEN_PHONE)
    fresh = new_reference()
    references = iter([existing["reference"], fresh])
    monkeypatch.setattr(inbound, "new_reference", lambda: next(references))
    session = support.open_chat(client)

    response = support.post_chat(client, session, "Hay un bache en mi calle", "k1")

    assert response.status_code == 201
    assert response.json_body["case_reference"] == format_reference(fresh)
    assert support.reference_item(existing["reference"])["case_id"] == existing["case_id"]
    assert len(support.items_of_kind("CASE#", "CASE")) == 2
    assert len(support.items_of_kind(f"CITIZEN#{session.citizen_id}", "CASE#")) == 1


# The agency queue


def test_case_queue_index_returns_open_case(client, outbox):
    deliver(client, "sms_first_message")

    case = demo_case_of(CITIZEN_PHONE)
    assert [item["case_id"] for item in open_queue()] == [case["case_id"]]


def test_case_queue_index_is_per_agency(client, outbox):
    deliver(client, "sms_to_other_agency")

    assert open_queue("demo") == []
    assert len(open_queue("water")) == 1


def test_case_queue_orders_by_last_activity(client, outbox):
    deliver(client, "sms_first_message")
    deliver(client, "sms_first_message", originationNumber=OTHER_PHONE, inboundMessageId="b-1")
    deliver(client, "sms_follow_up")

    queue = [item["case_id"] for item in open_queue()]
    assert queue == [demo_case_of(OTHER_PHONE)["case_id"], demo_case_of(CITIZEN_PHONE)["case_id"]]


# Resolved cases


def test_resolved_case_quoted_again_reopens(client, outbox):
    deliver(client, "sms_first_message")
    case = demo_case_of(CITIZEN_PHONE)
    support.set_case_status(case["case_id"], "resolved")

    deliver(client, "sms_quoting_reference", reference=format_reference(case["reference"]))

    reopened = support.case_item(case["case_id"])
    citizen_case = support.get_item(f"CITIZEN#{case['citizen_id']}", f"CASE#{case['case_id']}")
    assert reopened["status"] == "open"
    assert reopened["contact_count"] == 2
    assert citizen_case["status"] == "open"
    assert len(outbox.sent) == 1


def test_reopened_case_is_back_in_open_queue(client, outbox):
    deliver(client, "sms_first_message")
    case = demo_case_of(CITIZEN_PHONE)
    support.set_case_status(case["case_id"], "resolved")
    assert open_queue() == []

    deliver(client, "sms_quoting_reference", reference=case["reference"])

    assert [item["case_id"] for item in open_queue()] == [case["case_id"]]
    assert open_queue(status="resolved") == []


def test_sms_after_case_resolved_opens_new_case(client, outbox):
    deliver(client, "sms_first_message")
    resolved = demo_case_of(CITIZEN_PHONE)
    support.set_case_status(resolved["case_id"], "resolved")

    deliver(client, "sms_follow_up")

    current = demo_case_of(CITIZEN_PHONE)
    assert current["case_id"] != resolved["case_id"]
    assert current["status"] == "open"
    assert support.case_item(resolved["case_id"])["status"] == "resolved"
    assert len(outbox.sent) == 2


def test_chat_after_case_resolved_opens_new_case(client):
    session = support.open_chat(client)
    first = support.post_chat(client, session, "Hay un bache en mi calle", "k1")
    resolved_id = support.chat_session_item(session.session_id)["case_id"]
    support.set_case_status(resolved_id, "resolved")

    second = support.post_chat(client, session, "Ahora hay otro bache", "k2")

    assert second.status_code == 201
    assert second.json_body["case_opened"] is True
    assert second.json_body["case_reference"] != first.json_body["case_reference"]
    assert support.chat_session_item(session.session_id)["case_id"] != resolved_id
