"""send_link of the contact flow: a chat link or a case summary, once per call, SMS or WhatsApp."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib import aws
from tests import support
from tests import support_notify as notify_support
from tests.support_connect import (
    CALLER,
    CASE_DETAIL_KEYS,
    FIRST_LEG,
    OTHER_CALL,
    QUEUE_ARN,
    SECOND_LEG,
    UNKNOWN_CALLER,
    SlowDynamoDB,
    assert_flat_answer,
    citizen_of,
    flow_event,
    identify,
    invoke_flow,
    make_known_caller,
    remove_agency_setting,
)

EVENT = "connect_send_link_default_channel"
CHAT_URL = "https://demo.ventanilla.example/chat"
LINK_TEXT = f"Continúe su trámite por chat: {CHAT_URL}"


def send_link(client: Any, caller: Any = CALLER, **parameters: str) -> dict:
    event = flow_event(EVENT, caller=caller, parameters={"action": "send_link", **parameters})
    return invoke_flow(client, event)


def outbound_of(citizen_id: str) -> list[dict]:
    return notify_support.outbound(citizen_id)


def unknown_caller_id() -> str:
    (claim,) = support.items_of_kind(f"IDENTITY#phone#{UNKNOWN_CALLER}")
    return claim["citizen_id"]


@pytest.fixture
def sms(client):
    return support.SmsOutbox.attach()


@pytest.fixture
def graph(client, monkeypatch):
    """A Graph API on 127.0.0.1 that the product's settings point at."""
    yield from notify_support.graph_pointed_at_fake(monkeypatch)


@pytest.fixture
def known_reference(client, demo_agency, sms):
    return make_known_caller(client, demo_agency)


@pytest.fixture
def logs():
    yield from support.capture_logs()


# The chat link, to a caller id that is only a claim


def test_link_unknown_caller_goes_by_sms(client, sms):
    answer = send_link(client, UNKNOWN_CALLER)

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["link_sent"] == "true"
    assert answer["link_channel"] == "sms"
    assert answer["link_content"] == "link"
    assert answer["prompt"] == "Le enviamos el enlace del chat por SMS."
    (request,) = sms.to(UNKNOWN_CALLER)
    assert request["MessageBody"] == LINK_TEXT


def test_link_recorded_on_caller_timeline(client, sms):
    send_link(client, UNKNOWN_CALLER)

    citizen_id = unknown_caller_id()
    (sent,) = outbound_of(citizen_id)
    (call,) = [item for item in support.contacts() if item["kind"] == "call"]
    assert sent["kind"] == "link"
    assert sent["channel"] == "sms"
    assert sent["identity_verified"] is False
    assert sent["body"] == LINK_TEXT
    assert call["citizen_id"] == citizen_id
    assert call["actions"] == {"send_link"}
    assert support.profile(citizen_id)["provisional"] is True


def test_link_after_identify_adds_action(client, sms):
    identify(client, UNKNOWN_CALLER)

    send_link(client, UNKNOWN_CALLER)

    (call,) = [item for item in support.contacts() if item["kind"] == "call"]
    assert call["actions"] == {"identify", "send_link"}


def test_link_counted_as_deflected(client, sms):
    send_link(client, UNKNOWN_CALLER)
    send_link(client, UNKNOWN_CALLER)

    (row,) = support.items_of_kind("PHONE#demo", "DAY#")
    assert row["deflected"] == 1
    assert row["queue_arn"] == QUEUE_ARN


def test_link_retry_sends_once(client, sms):
    first = send_link(client, UNKNOWN_CALLER)
    second = send_link(client, UNKNOWN_CALLER)
    transferred = invoke_flow(
        client,
        flow_event(
            EVENT,
            caller=UNKNOWN_CALLER,
            contact_id=SECOND_LEG,
            initial_contact_id=FIRST_LEG,
            parameters={"action": "send_link"},
        ),
    )

    assert second == first
    assert transferred == first
    assert len(sms.to(UNKNOWN_CALLER)) == 1
    assert len(outbound_of(unknown_caller_id())) == 1


def test_link_retry_while_sending_answers_error(client, sms):
    from chalicelib.store.models import DedupeMarker

    event_id = f"{FIRST_LEG}#preferred"
    DedupeMarker(
        f"EVENT#call_link#{event_id}",
        "EVENT",
        citizen_id="0" * 32,
        contact_sk="",
        contact_id="",
        recorded_at="2026-12-04T10:00:00.000Z",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    ).save()

    answer = send_link(client, UNKNOWN_CALLER)

    assert answer["result"] == "error"
    assert answer["error_code"] == "in_progress"
    assert sms.sent == []


def test_link_requested_whatsapp_uses_template(client, sms, graph):
    answer = send_link(client, UNKNOWN_CALLER, channel="whatsapp")

    (request,) = graph.requests
    assert answer["link_channel"] == "whatsapp"
    assert answer["prompt"] == "Le enviamos el enlace del chat por WhatsApp."
    assert request.body["to"] == UNKNOWN_CALLER.removeprefix("+")
    assert request.body["template"]["name"] == "ventanilla_chat_link"
    (parameter,) = request.body["template"]["components"][0]["parameters"]
    assert parameter["text"] == LINK_TEXT
    assert sms.sent == []


def test_link_other_channel_sends_again(client, sms, graph):
    send_link(client, UNKNOWN_CALLER, channel="sms")

    answer = send_link(client, UNKNOWN_CALLER, channel="whatsapp")

    assert answer["link_channel"] == "whatsapp"
    assert len(sms.sent) == 1
    assert len(graph.requests) == 1


@pytest.mark.parametrize("channel", ["email", "fax", "voice"])
def test_link_unknown_channel_is_invalid(client, sms, channel):
    answer = send_link(client, UNKNOWN_CALLER, channel=channel)

    assert_flat_answer(answer)
    assert answer["result"] == "invalid"
    assert answer["link_sent"] == "false"
    assert sms.sent == []


WITHHELD = {
    "anonymous": {"Address": "anonymous", "Type": "TELEPHONE_NUMBER"},
    "null": None,
}


@pytest.mark.parametrize("endpoint", WITHHELD.values(), ids=WITHHELD)
def test_link_withheld_number_is_invalid(client, sms, endpoint):
    event = flow_event(EVENT, parameters={"action": "send_link"})
    event["Details"]["ContactData"]["CustomerEndpoint"] = endpoint
    before = support.scan_items()

    answer = invoke_flow(client, event)

    assert_flat_answer(answer)
    assert answer["result"] == "invalid"
    assert answer["prompt"] == "Su número está oculto, así que no podemos enviarle un mensaje."
    assert sms.sent == []
    assert support.scan_items() == before


def test_link_without_chat_url_answers_unavailable(client, sms):
    remove_agency_setting("demo", "chat_url")

    answer = send_link(client, UNKNOWN_CALLER)

    assert answer["result"] == "error"
    assert answer["error_code"] == "not_configured"
    assert sms.sent == []


# Opt-outs


def test_link_opted_out_sms_falls_back_to_whatsapp(client, sms, graph):
    identify(client, UNKNOWN_CALLER)
    notify_support.set_profile(unknown_caller_id(), opted_out_channels={"sms"})

    answer = send_link(client, UNKNOWN_CALLER, channel="sms")

    (sent,) = outbound_of(unknown_caller_id())
    assert answer["result"] == "ok"
    assert answer["link_channel"] == "whatsapp"
    assert sms.sent == []
    assert len(graph.requests) == 1
    assert sent["skipped_channels"] == {"sms": "opted_out"}


def test_link_every_channel_opted_out_is_not_found(client, sms, graph):
    notify_support.receive("whatsapp", "whatsapp", UNKNOWN_CALLER, "STOP", "wamid.stop-1")
    identify(client, UNKNOWN_CALLER)
    notify_support.set_profile(unknown_caller_id(), opted_out_channels={"sms"})
    graph.requests.clear()

    answer = send_link(client, UNKNOWN_CALLER)

    assert_flat_answer(answer)
    assert answer["result"] == "not_found"
    assert answer["link_sent"] == "false"
    assert answer["reason"] == "opted_out"
    assert answer["prompt"] == "No podemos enviarle mensajes por SMS ni por WhatsApp."
    assert sms.sent == []
    assert graph.requests == []


def test_link_whatsapp_owner_opt_out_respected(client, sms, graph):
    """The WhatsApp number's owner is another profile than the caller id's claim, and opted out."""
    notify_support.receive("whatsapp", "whatsapp", UNKNOWN_CALLER, "STOP", "wamid.stop-1")
    graph.requests.clear()

    answer = send_link(client, UNKNOWN_CALLER, channel="whatsapp")

    assert answer["link_channel"] == "sms"
    assert graph.requests == []
    assert len(sms.to(UNKNOWN_CALLER)) == 1


# The case summary: only to the case owner's verified identities


def test_summary_known_caller_open_case(client, known_reference, sms):
    sms.sent.clear()

    answer = send_link(client)

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["link_content"] == "case_summary"
    assert answer["prompt"] == (
        "Enviamos el resumen del caso por SMS al número registrado en el caso."
    )
    for key in CASE_DETAIL_KEYS:
        assert key not in answer
    assert known_reference.replace("-", "") not in json.dumps(answer)
    (request,) = sms.to(CALLER)
    assert request["MessageBody"] == f"Caso {known_reference}: abierto. Siga por chat: {CHAT_URL}"


def test_summary_keyed_by_other_caller_goes_to_owner(client, known_reference, sms):
    sms.sent.clear()
    digits = known_reference.replace("-", "")

    answer = send_link(client, UNKNOWN_CALLER, case_reference=digits)

    assert answer["result"] == "ok"
    assert answer["link_content"] == "case_summary"
    assert sms.to(UNKNOWN_CALLER) == []
    (request,) = sms.to(CALLER)
    assert known_reference in request["MessageBody"]
    (sent,) = [item for item in outbound_of(citizen_of(CALLER)) if item["kind"] == "case_summary"]
    assert sent["case_reference"] == digits
    assert sent["identity_verified"] is True


def test_summary_never_goes_to_claimed_phone(client, sms):
    """A web chat case whose phone was only typed: the summary has nowhere to go."""
    session = support.open_chat(client, phone=UNKNOWN_CALLER, name="Ana")
    response = support.post_chat(client, session, "Hay un bache en mi calle", "m-1")
    reference = response.json_body["case_reference"].replace("-", "")

    answer = send_link(client, UNKNOWN_CALLER, case_reference=reference)

    assert_flat_answer(answer)
    assert answer["result"] == "not_found"
    assert answer["reason"] == "no_identity"
    assert answer["link_content"] == "case_summary"
    assert sms.sent == []


def test_summary_unknown_reference_is_not_found(client, sms):
    answer = send_link(client, UNKNOWN_CALLER, case_reference="482193058")

    assert answer["result"] == "not_found"
    assert answer["prompt"] == "No encontramos un caso con ese número."
    assert sms.sent == []


def test_summary_wrong_check_digit_is_invalid(client, sms):
    answer = send_link(client, UNKNOWN_CALLER, case_reference="482193057")

    assert answer["result"] == "invalid"
    assert sms.sent == []


# Failures: an answer within Connect's 8 s


def test_link_sms_failure_answers_error(client, monkeypatch):
    def failing(params: dict, **_: Any) -> tuple[AWSResponse, dict]:
        error = {"Error": {"Code": "ThrottlingException", "Message": "simulated"}}
        return AWSResponse(params["url"], 400, {}, None), error

    events = aws.client("pinpoint-sms-voice-v2").meta.events
    events.register("before-call.pinpoint-sms-voice-v2.SendTextMessage", failing)

    answer = send_link(client, UNKNOWN_CALLER, channel="sms")

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "send_failed"
    assert answer["link_sent"] == "false"


def test_link_slow_graph_gets_remaining_time(client, sms, graph, monkeypatch):
    from chalicelib.notify import graph as graph_api

    # DynamoDB spends part of the deadline, so the Graph API request gets less than
    # its own 5 s timeout, and then times out.
    SlowDynamoDB(monkeypatch, seconds=0.4)
    timeouts: list[float] = []

    def time_out(request: Any, timeout: float) -> Any:
        timeouts.append(timeout)
        raise TimeoutError("simulated")

    monkeypatch.setattr(graph_api.urllib.request, "urlopen", time_out)

    answer = send_link(client, UNKNOWN_CALLER, channel="whatsapp")

    (timeout,) = timeouts
    assert graph_api.MIN_TIMEOUT_SECONDS <= timeout < 5
    assert answer["result"] == "ok"
    assert answer["link_channel"] == "sms"


def test_link_slow_dynamodb_sends_nothing(client, sms, monkeypatch):
    SlowDynamoDB(monkeypatch, seconds=2)

    answer = send_link(client, UNKNOWN_CALLER)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "send_failed"
    assert sms.sent == []


def test_link_send_clients_are_bounded(client):
    for service in ("pinpoint-sms-voice-v2", "socialmessaging", "ssm"):
        config = aws.client(service).meta.config
        assert config.connect_timeout == 1, service
        assert config.read_timeout == 2, service
        assert config.retries["total_max_attempts"] == 1, service


def test_link_logs_contain_no_phone_number(client, sms, known_reference, logs):
    send_link(client)
    send_link(client, UNKNOWN_CALLER, contact_id=OTHER_CALL)
    lines = logs.lines()

    assert any('"link recorded"' in line for line in lines)
    for phone in (CALLER, UNKNOWN_CALLER):
        assert not any(phone.removeprefix("+52") in line for line in lines), phone
