"""Structured logs of a chat and SMS journey: JSON lines, correlation ids, no personal data."""

import json
from dataclasses import dataclass, field

import pytest
from botocore.stub import Stubber

from chalicelib import aws
from chalicelib.errors import NotFoundError
from tests import support
from tests.support import CITIZEN_NATIONAL, CITIZEN_PHONE

NAME = "Ana Pérez"
EMAIL = "ana.perez@example.org"
CHAT_TEXT = "Hay un bache enorme frente a mi casa en la calle Reforma"
# Every form of the citizen's phone number that a log line must not contain.
PHONE_FORMS = (CITIZEN_PHONE, CITIZEN_NATIONAL, "+5215541637145", "55 4163 7145", "4163 7145")


@dataclass
class SmsDelivery:
    """One SNS event delivered during the journey and the log records it produced."""

    event: dict
    records: list[dict] = field(default_factory=list)

    @property
    def sns_message_id(self) -> str:
        return self.event["Records"][0]["Sns"]["MessageId"]


@dataclass
class Journey:
    records: list[dict]
    lines: list[str]
    sms: dict[str, SmsDelivery]
    texts: list[str]
    chat_citizen_id: str


@pytest.fixture
def logs(aws):
    yield from support.capture_logs()


@pytest.fixture
def journey(client, logs):
    """Chat, then SMS from the claimed phone: a first message, a proof, a retry, two failures."""
    support.SmsOutbox.attach()
    session = support.open_chat(client, name=NAME, phone="+52 55 4163 7145", email=EMAIL)
    posted = support.post_chat(client, session, CHAT_TEXT, "k1")
    support.post_chat(client, session, CHAT_TEXT, "k1")
    support.chat_messages(client, session)
    support.post_json(client, "/chat/sessions", {"agency_id": "demo", "phone": "55 41"})

    events = {
        "first": support.load_event("sms_first_message"),
        "proof": support.sms_event(
            "sms_quoting_reference", reference=posted.json_body["case_reference"]
        ),
        "old_form": support.load_event("sms_old_mexican_mobile"),
    }
    events["retry"] = events["first"]
    sms = {}
    for name, event in events.items():
        mark = logs.mark()
        support.invoke_sms(client, event)
        sms[name] = SmsDelivery(event, logs.records_since(mark))

    mark = logs.mark()
    with pytest.raises(NotFoundError):
        support.invoke_sms(client, support.load_event("sms_unknown_destination"))
    sms["unknown_destination"] = SmsDelivery(
        support.load_event("sms_unknown_destination"), logs.records_since(mark)
    )

    support.age_open_case(CITIZEN_PHONE, "demo", days=8)
    failed = support.load_event("sms_follow_up")
    mark = logs.mark()
    with Stubber(aws.client(support.SMS_SERVICE)) as stubber:
        stubber.add_client_error("send_text_message", service_error_code="ValidationException")
        support.invoke_sms(client, failed)
    sms["failed_notice"] = SmsDelivery(failed, logs.records_since(mark))

    all_events = [*events.values(), failed, support.load_event("sms_unknown_destination")]
    texts = [CHAT_TEXT] + [support.sms_payload(event)["messageBody"] for event in all_events]
    return Journey(logs.records(), logs.lines(), sms, texts, session.citizen_id)


def test_log_lines_are_json_with_correlation_id(journey):
    assert journey.lines
    for line in journey.lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert record.get("correlation_id"), line


def test_sms_log_lines_carry_event_context(journey):
    citizen_id = support.phone_link(CITIZEN_PHONE)["citizen_id"]
    for name, delivery in journey.sms.items():
        assert delivery.records, name
        for record in delivery.records:
            assert record["correlation_id"] == delivery.sns_message_id, record
            if name == "unknown_destination":
                continue
            assert record.get("agency") == "demo", record
            assert record.get("channel") == "sms", record
            assert record.get("citizen_id") == citizen_id, record


def test_sms_log_lines_describe_outcomes(journey):
    recorded = [r for r in journey.sms["first"].records if r["message"] == "sms recorded"]
    merges = [r for r in journey.sms["proof"].records if r["message"] == "profiles merged"]
    failures = [r for r in journey.sms["failed_notice"].records if r["level"] == "WARNING"]
    errors = [r for r in journey.sms["unknown_destination"].records if r["level"] == "ERROR"]

    assert len(recorded) == 1
    assert recorded[0]["case_opened"] is True
    assert recorded[0]["function_name"] == "inbound_sms"
    assert merges[0]["merged_citizen_id"] == journey.chat_citizen_id
    assert failures[0]["message"] == "sms send failed"
    assert failures[0]["error_code"] == "ValidationException"
    assert errors[0]["message"] == "invalid sms event"
    assert errors[0]["field"] == "sms"


def test_sms_duplicate_is_logged_as_duplicate(journey):
    recorded = [r for r in journey.sms["retry"].records if r["message"] == "sms recorded"]

    assert recorded[0]["duplicate"] is True


def test_logs_never_contain_personal_data(journey):
    forbidden = [*PHONE_FORMS, EMAIL, "Pérez", *journey.texts]
    lines = journey.lines + [json.dumps(record, ensure_ascii=False) for record in journey.records]
    for value in forbidden:
        for line in lines:
            assert value not in line, value
