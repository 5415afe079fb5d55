"""Two-way SMS: SNS events from End User Messaging SMS through the `inbound_sms` function."""

import copy
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.stub import Stubber
from chalice.test import LambdaContext

from chalicelib import aws
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.journey import inbound
from chalicelib.journey.references import is_valid_reference
from tests import support
from tests.support import CITIZEN_PHONE, OTHER_PHONE

NOTICE_PATTERN = r"Caso \d{3}-\d{3}-\d{3} registrado\. Cítelo en cualquier canal\."
THREADS = 8


@pytest.fixture
def outbox(aws):
    return support.SmsOutbox.attach()


def deliver(client, name, **changes):
    """Deliver the sample event `name`, changed as `support.sms_event` describes."""
    support.invoke_sms(client, support.sms_event(name, **changes))


def open_chat_case(client, **fields):
    """Open a chat session whose first message opens a case, and return it and the reference."""
    session = support.open_chat(client, **fields)
    response = support.post_chat(client, session, "Quiero reportar una fuga de agua", "first")
    assert response.status_code == 201, response.json_body
    return session, response.json_body["case_reference"]


def only(items):
    assert len(items) == 1, items
    return items[0]


# A first message


def test_sms_first_message_opens_case(client, outbox):
    deliver(client, "sms_first_message")

    link = support.phone_link(CITIZEN_PHONE)
    case = support.case_item(link["open_cases"]["demo"]["case_id"])
    assert case["status"] == "open"
    assert case["agency_id"] == "demo"
    assert case["citizen_id"] == link["citizen_id"]
    assert case["channel"] == "sms"


def test_sms_first_message_creates_verified_profile(client, outbox):
    deliver(client, "sms_first_message")

    link = support.phone_link(CITIZEN_PHONE)
    assert link["verified"] is True
    assert link["source_channel"] == "sms"
    assert support.profile(link["citizen_id"])["provisional"] is False


def test_sms_first_message_records_inbound_contact(client, outbox):
    event = support.load_event("sms_first_message")
    support.invoke_sms(client, event)

    contact = only(support.contacts("inbound"))
    payload = support.sms_payload(event)
    assert contact["body"] == payload["messageBody"]
    assert contact["external_id"] == payload["inboundMessageId"]
    assert contact["occurred_at"] == event["Records"][0]["Sns"]["Timestamp"]
    assert contact["identity_verified"] is True


def test_sms_first_message_sends_notice_from_agency_number(client, demo_agency, monkeypatch):
    monkeypatch.setattr(inbound, "new_reference", lambda: "482193058")
    expected = {
        "DestinationPhoneNumber": CITIZEN_PHONE,
        "OriginationIdentity": demo_agency["sms_number"],
        "MessageBody": "Caso 482-193-058 registrado. Cítelo en cualquier canal.",
        "MessageType": "TRANSACTIONAL",
    }
    with Stubber(aws.client(support.SMS_SERVICE)) as stubber:
        stubber.add_response("send_text_message", {"MessageId": "notice-1"}, expected)
        deliver(client, "sms_first_message")
        # A request that differs from `expected` leaves the response queued.
        stubber.assert_no_pending_responses()

    assert only(support.contacts("outbound", "sms"))["delivery_status"] == "sent"


def test_sms_notice_matches_sent_text(client, outbox):
    deliver(client, "sms_first_message")

    notice = only(outbox.to(CITIZEN_PHONE))
    assert re.fullmatch(NOTICE_PATTERN, notice["MessageBody"])
    assert notice["MessageBody"] == only(support.contacts("outbound", "sms"))["body"]


def test_sms_notice_quotes_case_reference(client, outbox):
    deliver(client, "sms_first_message")

    reference = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["reference"]
    grouped = f"{reference[:3]}-{reference[3:6]}-{reference[6:]}"
    notice = only(outbox.to(CITIZEN_PHONE))
    assert grouped in notice["MessageBody"]


def test_sms_notice_is_recorded_as_sent(client, outbox):
    deliver(client, "sms_first_message")

    notice = only(support.contacts("outbound", "sms"))
    assert notice["delivery_status"] == "sent"
    assert notice["external_id"] == "outbox-1"
    assert notice["kind"] == "notice"


def test_sms_failed_send_records_failed_notice(client):
    with Stubber(aws.client(support.SMS_SERVICE)) as stubber:
        stubber.add_client_error(
            "send_text_message",
            service_error_code="ValidationException",
            service_message="Destination phone number is opted out",
            http_status_code=400,
        )
        deliver(client, "sms_first_message")

    notice = only(support.contacts("outbound", "sms"))
    assert notice["delivery_status"] == "failed"


def test_sms_failed_send_keeps_inbound_recorded_once(client):
    with Stubber(aws.client(support.SMS_SERVICE)) as stubber:
        stubber.add_client_error("send_text_message", service_error_code="ThrottlingException")
        deliver(client, "sms_first_message")
        deliver(client, "sms_first_message")

    assert len(support.contacts("inbound")) == 1


def test_sms_without_keyword_is_recorded(client, outbox):
    event = support.load_event("sms_without_keyword")
    assert "messageKeyword" not in support.sms_payload(event)
    assert "previousPublishedMessageId" not in support.sms_payload(event)

    support.invoke_sms(client, event)

    contact = only(support.contacts("inbound"))
    assert contact["body"] == support.sms_payload(event)["messageBody"]


# Redelivery


def test_sms_duplicate_is_recorded_once(client, outbox):
    event = support.load_event("sms_first_message")
    support.invoke_sms(client, event)
    support.invoke_sms(client, event)

    assert len(support.contacts("inbound")) == 1
    assert len(outbox.sent) == 1


def test_sms_duplicate_opens_one_case(client, outbox):
    event = support.load_event("sms_first_message")
    support.invoke_sms(client, event)
    support.invoke_sms(client, event)

    assert len(support.items_of_kind("CASE#", "CASE")) == 1


def test_sms_republished_is_recorded_once(client, outbox):
    payload = support.sms_payload(support.load_event("sms_first_message"))
    for sns_message_id in ("4a0f3c1e-0000-4000-8000-000000000001", "4a0f3c1e-0000-4000-8000-2"):
        support.invoke_sms(
            client, support.generated_sns_event(client, payload, sns_message_id=sns_message_id)
        )

    assert len(support.contacts("inbound")) == 1
    assert len(outbox.sent) == 1


def test_sms_concurrent_deliveries_record_once(client, outbox, monkeypatch):
    from app import app

    support.serialize_moto_requests(monkeypatch)
    handler = app.handler_map["inbound_sms"]
    event = support.load_event("sms_first_message")
    start = threading.Barrier(THREADS)

    def deliver_at_once():
        start.wait()
        return handler(copy.deepcopy(event), LambdaContext("inbound_sms", memory_size=512))

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(deliver_at_once) for _ in range(THREADS)]
        errors = [future.exception() for future in futures]

    assert errors == [None] * THREADS
    assert len(support.contacts("inbound")) == 1
    assert len(outbox.sent) == 1
    assert len(support.items_of_kind("CITIZEN#", "PROFILE")) == 1
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


# A known citizen


def test_sms_follow_up_joins_open_case(client, outbox):
    deliver(client, "sms_first_message")
    deliver(client, "sms_follow_up")

    first, second = support.contacts("inbound")
    assert first["case_id"] == second["case_id"]
    assert support.case_item(first["case_id"])["contact_count"] == 2


def test_sms_follow_up_sends_no_new_notice(client, outbox):
    deliver(client, "sms_first_message")
    deliver(client, "sms_follow_up")

    assert len(outbox.sent) == 1


def test_sms_after_active_window_opens_new_case(client, outbox):
    deliver(client, "sms_first_message")
    old_case_id = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"]
    support.age_open_case(CITIZEN_PHONE, "demo", days=8)

    deliver(client, "sms_follow_up")

    new_case_id = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"]
    assert new_case_id != old_case_id
    assert len(outbox.sent) == 2


def test_sms_within_active_window_joins_case(client, outbox):
    deliver(client, "sms_first_message")
    case_id = support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"]
    support.age_open_case(CITIZEN_PHONE, "demo", days=6)

    deliver(client, "sms_follow_up")

    assert support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["case_id"] == case_id
    assert len(outbox.sent) == 1


def test_sms_old_mexican_mobile_is_same_citizen(client, outbox):
    deliver(client, "sms_first_message")
    deliver(client, "sms_old_mexican_mobile")

    first, second = support.contacts("inbound")
    assert support.sms_payload(support.load_event("sms_old_mexican_mobile"))[
        "originationNumber"
    ].startswith("+521")
    assert first["citizen_id"] == second["citizen_id"]
    assert len(support.items_of_kind("IDENTITY#phone#", "LINK")) == 1


def test_sms_out_of_order_sorts_by_message_time(client, outbox):
    deliver(client, "sms_sent_second")
    deliver(client, "sms_sent_first")

    citizen_id = support.phone_link(CITIZEN_PHONE)["citizen_id"]
    bodies = [
        item["body"] for item in support.timeline(citizen_id) if item["direction"] == "inbound"
    ]
    assert bodies == [
        support.sms_payload(support.load_event("sms_sent_first"))["messageBody"],
        support.sms_payload(support.load_event("sms_sent_second"))["messageBody"],
    ]


def test_sms_out_of_order_lands_in_one_case(client, outbox):
    deliver(client, "sms_sent_second")
    deliver(client, "sms_sent_first")

    assert len({item["case_id"] for item in support.contacts("inbound")}) == 1


# Case references quoted by SMS


def test_sms_quoting_chat_reference_joins_chat_case(client, outbox):
    session, reference = open_chat_case(client, phone=CITIZEN_PHONE)

    deliver(client, "sms_quoting_reference", reference=reference)

    contact = only(support.contacts("inbound", "sms"))
    assert contact["case_id"] == support.chat_session_item(session.session_id)["case_id"]
    assert outbox.sent == []


def test_sms_quoting_chat_reference_verifies_chat_profile(client, outbox):
    session, reference = open_chat_case(client, phone=CITIZEN_PHONE)

    deliver(client, "sms_quoting_reference", reference=reference)

    assert support.profile(session.citizen_id)["provisional"] is False
    assert support.phone_link(CITIZEN_PHONE)["citizen_id"] == session.citizen_id
    assert support.phone_link(CITIZEN_PHONE)["verified"] is True


def test_sms_quoting_chat_reference_from_known_number_merges(client, outbox):
    deliver(client, "sms_first_message", originationNumber=OTHER_PHONE)
    verified_id = support.phone_link(OTHER_PHONE)["citizen_id"]
    session, reference = open_chat_case(client, phone=OTHER_PHONE)

    deliver(client, "sms_quoting_reference", reference=reference, originationNumber=OTHER_PHONE)

    record = support.get_item(f"CITIZEN#{verified_id}", f"MERGE#{session.citizen_id}")
    assert record is not None
    assert record["merged_citizen_id"] == session.citizen_id
    assert record["surviving_citizen_id"] == verified_id
    assert record["proof"] == reference.replace("-", "")
    assert support.profile(session.citizen_id)["merged_into"] == verified_id
    assert session.citizen_id in support.profile(verified_id)["merged_from"]


def test_sms_merge_keeps_phone_on_verified_profile(client, outbox):
    deliver(client, "sms_first_message", originationNumber=OTHER_PHONE)
    verified_id = support.phone_link(OTHER_PHONE)["citizen_id"]
    session, reference = open_chat_case(client, phone=OTHER_PHONE)

    deliver(client, "sms_quoting_reference", reference=reference, originationNumber=OTHER_PHONE)

    quoting = support.contacts("inbound", "sms")[-1]
    assert support.phone_link(OTHER_PHONE)["citizen_id"] == verified_id
    assert quoting["citizen_id"] == verified_id
    assert quoting["case_id"] == support.chat_session_item(session.session_id)["case_id"]


def test_sms_quoting_other_agency_reference_opens_own_case(client, outbox, other_agency):
    deliver(client, "sms_to_other_agency")
    water_case = only(support.items_of_kind("CASE#", "CASE"))
    assert only(outbox.sent)["OriginationIdentity"] == other_agency["sms_number"]

    deliver(client, "sms_quoting_reference", reference=water_case["reference"])

    demo_case = support.case_of_reference(
        support.phone_link(CITIZEN_PHONE)["open_cases"]["demo"]["reference"]
    )
    assert demo_case["case_id"] != water_case["case_id"]
    assert demo_case["agency_id"] == "demo"
    assert support.case_item(water_case["case_id"])["contact_count"] == 1


def test_sms_damm_valid_number_is_not_a_reference(client, outbox):
    event = support.load_event("sms_number_not_a_reference")
    number = "482193058"
    assert is_valid_reference(number)
    assert number in support.sms_payload(event)["messageBody"]

    support.invoke_sms(client, event)

    contact = only(support.contacts("inbound"))
    assert support.case_item(contact["case_id"])["reference"] != number
    assert len(outbox.sent) == 1


# Claims typed into a chat


def test_chat_claim_does_not_join_verified_phone(client, outbox):
    deliver(client, "sms_first_message")
    verified_id = support.phone_link(CITIZEN_PHONE)["citizen_id"]

    session, _ = open_chat_case(client, phone="55 4163 7145")

    claim = support.get_item(f"IDENTITY#phone#{CITIZEN_PHONE}", f"CLAIM#{session.citizen_id}")
    assert session.citizen_id != verified_id
    assert support.phone_link(CITIZEN_PHONE)["citizen_id"] == verified_id
    assert claim["verified"] is False
    assert support.profile(session.citizen_id)["provisional"] is True


# Events that are not valid


def test_sns_message_not_json_is_rejected(client, outbox):
    with pytest.raises(ValidationError) as raised:
        deliver(client, "sns_message_not_json")

    assert raised.value.field == "Records[0].Sns.Message"
    assert "not valid JSON" in raised.value.message


def test_sns_message_not_json_writes_nothing(client, outbox):
    before = support.scan_items()

    with pytest.raises(ValidationError):
        deliver(client, "sns_message_not_json")

    assert support.scan_items() == before


def test_sms_missing_origination_number_is_rejected(client, outbox):
    before = support.scan_items()

    with pytest.raises(ValidationError) as raised:
        deliver(client, "sms_missing_origination_number")

    assert raised.value.field == "Records[0].Sns.Message.originationNumber"
    assert raised.value.message.startswith("Records[0].Sns.Message.originationNumber")
    assert support.scan_items() == before


def test_sms_unknown_destination_is_not_found(client, outbox):
    before = support.scan_items()

    with pytest.raises(NotFoundError):
        deliver(client, "sms_unknown_destination")

    assert support.scan_items() == before
    assert outbox.sent == []


def test_sms_invalid_origination_number_is_rejected(client, outbox):
    with pytest.raises(ValidationError) as raised:
        deliver(client, "sms_first_message", originationNumber="AYUNTAMIENTO")

    assert raised.value.field == "Records[0].Sns.Message.originationNumber"
    assert "AYUNTAMIENTO" not in raised.value.message


def test_sms_invalid_sns_timestamp_is_rejected(client, outbox):
    before = support.scan_items()

    with pytest.raises(ValidationError) as raised:
        deliver(client, "sms_first_message", timestamp="01/12/2026 15:04")

    assert raised.value.field == "Records[0].Sns.Timestamp"
    assert support.scan_items() == before
