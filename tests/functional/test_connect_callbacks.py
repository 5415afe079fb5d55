"""request_callback of the contact flow: one Connect task per call, on the caller's timeline."""

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests import support
from tests.support_connect import (
    CALLER,
    CASE_DETAIL_KEYS,
    FIRST_LEG,
    INSTANCE_ID,
    OTHER_CALL,
    QUEUE_ARN,
    SECOND_LEG,
    TASK_CONTACT_ID,
    UNKNOWN_CALLER,
    SlowDynamoDB,
    assert_flat_answer,
    citizen_of,
    connect_tasks,
    contacts_of_kind,
    flow_event,
    identify,
    invoke_flow,
    make_known_caller,
    remove_agency_setting,
)

EVENT = "connect_request_callback_in_queue"
TOKEN = f"ventanilla-callback-{FIRST_LEG}"
SCHEDULED_PROMPT = "Le devolveremos la llamada a este número en cuanto le toque. Ya puede colgar."


def request_callback(client: Any, caller: Any = CALLER, **changes: Any) -> dict:
    return invoke_flow(client, flow_event(EVENT, caller=caller, **changes))


@pytest.fixture
def tasks(client):
    with connect_tasks() as stub:
        yield stub


@pytest.fixture
def logs():
    yield from support.capture_logs()


@pytest.fixture
def known_reference(client, demo_agency):
    support.SmsOutbox.attach()
    return make_known_caller(client, demo_agency)


# A caller whose caller id is a verified phone


def test_callback_known_caller_answer(client, tasks, known_reference):
    tasks.answer()

    answer = request_callback(client)

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["callback_scheduled"] == "true"
    assert answer["prompt"] == SCHEDULED_PROMPT
    for key in CASE_DETAIL_KEYS:
        assert key not in answer
    assert known_reference.replace("-", "") not in json.dumps(answer)


def test_callback_task_request(client, tasks, demo_agency, known_reference):
    tasks.answer(
        InstanceId=INSTANCE_ID,
        ContactFlowId=demo_agency["connect_callback_flow_id"],
        PreviousContactId=FIRST_LEG,
        ClientToken=TOKEN,
    )

    request_callback(client)

    (request,) = tasks.requests
    attributes = request["Attributes"]
    assert attributes["callback_number"] == CALLER
    assert attributes["callback_number_verified"] == "true"
    assert attributes["callback_queue_arn"] == QUEUE_ARN
    assert attributes["case_reference"] == known_reference
    assert attributes["citizen_id"] == citizen_of(CALLER)
    assert request["References"] == {"callback_number": {"Value": CALLER, "Type": "STRING"}}
    assert request["Name"] == "Devolver llamada"
    assert request["Description"] == f"Llamar al {CALLER}. Caso {known_reference}."


def test_callback_recorded_on_timeline(client, tasks, known_reference):
    tasks.answer()

    request_callback(client)

    (callback,) = contacts_of_kind("callback")
    assert callback["citizen_id"] == citizen_of(CALLER)
    assert callback["channel"] == "voice"
    assert callback["direction"] == "outbound"
    assert callback["delivery_status"] == "scheduled"
    assert callback["external_id"] == TASK_CONTACT_ID
    assert callback["case_reference"] == known_reference.replace("-", "")
    assert callback["identity_verified"] is True


def test_callback_added_to_call_contact(client, tasks, known_reference):
    tasks.answer()
    identify(client)

    request_callback(client)

    (call,) = contacts_of_kind("call")
    assert call["actions"] == {"identify", "request_callback"}
    assert call["case_reference"] == known_reference.replace("-", "")


def test_callback_as_first_action_records_call(client, tasks, known_reference):
    tasks.answer()

    request_callback(client)

    (call,) = contacts_of_kind("call")
    assert call["actions"] == {"request_callback"}
    assert call["citizen_id"] == citizen_of(CALLER)
    assert len(support.items_of_kind("EVENT#voice#")) == 1


def test_callback_counted_in_phone_figures(client, tasks, known_reference):
    tasks.answer()

    request_callback(client)
    request_callback(client)

    (row,) = support.items_of_kind("PHONE#demo", "DAY#")
    assert row["callbacks"] == 1
    assert row["queue_arn"] == QUEUE_ARN


# Connect retries: one call, one callback


def test_callback_retry_schedules_once(client, tasks, known_reference):
    tasks.answer()

    first = request_callback(client)
    second = request_callback(client)

    assert second == first
    assert len(tasks.requests) == 1
    assert len(contacts_of_kind("callback")) == 1
    assert len(support.items_of_kind("EVENT#callback#")) == 1


def test_callback_transferred_leg_schedules_once(client, tasks, known_reference):
    tasks.answer()
    request_callback(client)

    answer = request_callback(client, contact_id=SECOND_LEG, initial_contact_id=FIRST_LEG)

    assert answer["callback_scheduled"] == "true"
    assert len(tasks.requests) == 1


def test_callback_unrecorded_retry_reuses_client_token(client, tasks, known_reference, monkeypatch):
    """A first invocation whose write failed leaves no marker: the retry starts the task again.

    The same ClientToken makes Connect return the task it created, so there is still
    one callback, recorded once.
    """
    from chalicelib.store import transactions

    tasks.answer(ClientToken=TOKEN)
    tasks.answer(ClientToken=TOKEN)
    original = transactions.Transaction.commit
    failures = iter([True])

    def fail_once(self: Any) -> None:
        if any("callback contact" in operation[1] for operation in self._operations) and next(
            failures, False
        ):
            raise transactions.TransactionConflictError(["callback contact"])
        original(self)

    monkeypatch.setattr(transactions.Transaction, "commit", fail_once)

    first = request_callback(client)
    second = request_callback(client)

    assert first["callback_scheduled"] == "true"
    assert second["callback_scheduled"] == "true"
    assert [request["ClientToken"] for request in tasks.requests] == [TOKEN, TOKEN]
    (callback,) = contacts_of_kind("callback")
    assert callback["external_id"] == TASK_CONTACT_ID


# Callers who are not known, or cannot be called


def test_callback_unknown_caller_gets_provisional_profile(client, tasks):
    tasks.answer()

    answer = request_callback(client, UNKNOWN_CALLER)

    (claim,) = support.items_of_kind(f"IDENTITY#phone#{UNKNOWN_CALLER}")
    (callback,) = contacts_of_kind("callback")
    assert answer["callback_scheduled"] == "true"
    assert claim["sk"] == f"CLAIM#{claim['citizen_id']}"
    assert callback["citizen_id"] == claim["citizen_id"]
    assert callback["identity_verified"] is False
    assert support.profile(claim["citizen_id"])["provisional"] is True


def test_callback_unknown_caller_task_says_unverified(client, tasks):
    tasks.answer()

    request_callback(client, UNKNOWN_CALLER)

    (request,) = tasks.requests
    assert request["Attributes"]["callback_number_verified"] == "false"
    assert "case_reference" not in request["Attributes"]
    assert request["Description"] == (
        f"Llamar al {UNKNOWN_CALLER}. El número no está verificado: "
        "pida la referencia del caso antes de dar detalles."
    )


WITHHELD = {
    "anonymous": {"Address": "anonymous", "Type": "TELEPHONE_NUMBER"},
    "null": None,
    "not_a_phone": {"Address": "sip:caller@example.org", "Type": "SIP_URI"},
}


@pytest.mark.parametrize("endpoint", WITHHELD.values(), ids=WITHHELD)
def test_callback_withheld_number_is_invalid(client, tasks, endpoint):
    event = support.load_event("connect_request_callback_withheld_number")
    event["Details"]["ContactData"]["CustomerEndpoint"] = endpoint
    before = support.scan_items()

    answer = invoke_flow(client, event)

    assert_flat_answer(answer)
    assert answer["result"] == "invalid"
    assert answer["callback_scheduled"] == "false"
    assert answer["prompt"] == "Su número está oculto, así que no podemos devolverle la llamada."
    assert tasks.requests == []
    assert support.scan_items() == before


# A keyed case reference


def test_callback_keyed_reference_attaches_case(client, tasks, known_reference):
    tasks.answer()
    parameters = {"action": "request_callback", "case_reference": known_reference.replace("-", "")}

    answer = request_callback(client, UNKNOWN_CALLER, parameters=parameters)

    (callback,) = contacts_of_kind("callback")
    assert answer["result"] == "ok"
    # The reference was sent only to the case's owner, as case_status assumes.
    assert callback["citizen_id"] == citizen_of(CALLER)
    assert callback["case_reference"] == known_reference.replace("-", "")
    (request,) = tasks.requests
    assert request["Attributes"]["case_reference"] == known_reference
    assert request["Attributes"]["callback_number"] == UNKNOWN_CALLER


def test_callback_wrong_check_digit_is_invalid(client, tasks, known_reference):
    digits = known_reference.replace("-", "")
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)

    answer = request_callback(
        client, parameters={"action": "request_callback", "case_reference": wrong}
    )

    assert answer["result"] == "invalid"
    assert answer["callback_scheduled"] == "false"
    assert tasks.requests == []


def test_callback_other_agency_reference_not_found(client, tasks, other_agency):
    support.SmsOutbox.attach()
    from tests.support_connect import send_sms

    send_sms(client, CALLER, other_agency["sms_number"], "Hay una fuga de agua", "s-9")
    (water_case,) = support.items_of_kind("CASE#", "CASE")
    parameters = {"action": "request_callback", "case_reference": water_case["reference"]}

    answer = request_callback(client, parameters=parameters)

    assert answer["result"] == "not_found"
    assert tasks.requests == []
    assert contacts_of_kind("callback") == []


# Failures: an answer within Connect's 8 s, and nothing recorded for a task not created


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "InvalidParameterException", "ServiceQuotaExceededException"]
)
def test_callback_connect_error_answers_error(client, tasks, known_reference, code):
    tasks.fail(code, status=400)

    answer = request_callback(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "callback_failed"
    assert contacts_of_kind("callback") == []
    assert support.items_of_kind("EVENT#callback#") == []


def test_callback_connect_timeout_answers_error(client, known_reference):
    from chalicelib import aws

    def time_out(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://connect.us-east-1.amazonaws.com")

    aws.client("connect").meta.events.register("before-call.connect.StartTaskContact", time_out)

    answer = request_callback(client)

    assert answer["result"] == "error"
    assert answer["error_code"] == "callback_failed"
    assert contacts_of_kind("callback") == []


def test_callback_connect_client_is_bounded(client):
    from chalicelib import aws

    config = aws.client("connect").meta.config

    assert config.connect_timeout == 1
    assert config.read_timeout == 2
    assert config.retries["total_max_attempts"] == 1


def test_callback_slow_dynamodb_skips_connect(client, tasks, known_reference, monkeypatch):
    SlowDynamoDB(monkeypatch, seconds=3)

    answer = request_callback(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "callback_failed"
    assert tasks.requests == []


def test_callback_write_failure_still_answers_scheduled(
    client, tasks, known_reference, monkeypatch
):
    from botocore.client import BaseClient

    tasks.answer()
    original = BaseClient._make_api_call

    def failing(client_: BaseClient, operation_name: str, api_params: dict) -> Any:
        if operation_name == "TransactWriteItems":
            error = {"Error": {"Code": "InternalServerError", "Message": "simulated failure"}}
            raise ClientError(error, operation_name)
        return original(client_, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", failing)

    answer = request_callback(client)

    # The task exists, so the caller may hang up: the callback will come.
    assert answer["callback_scheduled"] == "true"
    assert contacts_of_kind("callback") == []


def test_callback_without_flow_answers_unavailable(client, tasks, known_reference):
    remove_agency_setting("demo", "connect_callback_flow_id")

    answer = request_callback(client)

    assert answer["result"] == "error"
    assert answer["error_code"] == "not_configured"
    assert answer["prompt"] == "Esa opción todavía no está disponible."
    assert tasks.requests == []


def test_callback_logs_contain_no_phone_number(client, tasks, known_reference, logs):
    tasks.answer()
    tasks.answer()

    request_callback(client)
    request_callback(client, UNKNOWN_CALLER, contact_id=OTHER_CALL)
    lines = logs.lines()

    assert any('"callback scheduled"' in line for line in lines)
    for phone in (CALLER, UNKNOWN_CALLER):
        assert not any(phone.removeprefix("+52") in line for line in lines), phone


def test_callback_invalid_settings_answers_error(client, monkeypatch):
    """Settings that fail validation still get the flow an answer, not a function error."""
    from chalicelib import settings

    def invalid(*_: Any) -> Any:
        raise settings.SettingsError("invalid configuration: VENTANILLA_TABLE: too short")

    monkeypatch.setattr("chalicelib.channels.connect.get_settings", invalid)
    monkeypatch.setattr("chalicelib.channels.connect.agency_for_endpoint", invalid)

    answer = request_callback(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "internal_error"
