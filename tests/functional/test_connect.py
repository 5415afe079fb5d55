"""The Amazon Connect contact flow Lambda (`connect_contact_flow`), driven with sample events.

Each event under tests/events/connect_*.json is written from the request that
Connect's "Invoke AWS Lambda function" block sends, as the Connect administrator
guide shows it. Citizens become known through the product's own paths: a web chat
opened with a name, then an SMS from the citizen's phone quoting the chat's case
reference, which proves that the phone belongs to the chat's citizen.
"""

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.exceptions import QueryError

from tests.support_connect import flow_event, send_sms

EVENTS_DIR = Path(__file__).parent.parent / "events"
TABLE_NAME = "ventanilla-test"

KNOWN_PHONE = "+525541637145"
KNOWN_NATIONAL = "5541637145"
UNKNOWN_PHONE = "+525587654321"
UNKNOWN_NATIONAL = "5587654321"
CHAT_CLAIMED_PHONE = "+525512348765"
WARMING_PHONE = "+525598761234"

FIRST_LEG = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
SECOND_LEG = "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e11"
OTHER_CALL = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"

RESULTS = {"ok", "not_found", "invalid", "error"}
# A flow stores answer values as contact attributes, whose keys may contain only
# letters, digits, "-" and "_". Connect rejects an answer of 32 KB or more.
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_ANSWER_BYTES = 32 * 1024
CASE_DETAIL_KEYS = ("latest_case_reference", "latest_case_status", "case_status")
# A reference with a valid Damm check digit that no case has.
UNUSED_REFERENCE = "482193058"


def _reads_only(path: Path) -> bool:
    """Return whether a sample event is a contact flow invocation of identify or case_status.

    The other actions call Connect or send messages, which their own tests stub.
    """
    event = json.loads(path.read_text(encoding="utf-8"))
    if event.get("Name") != "ContactFlowEvent":
        return False
    action = (event["Details"].get("Parameters") or {}).get("action", "identify")
    return action in ("identify", "case_status")


SAMPLE_EVENTS = sorted(path.stem for path in EVENTS_DIR.glob("connect_*.json") if _reads_only(path))
GREETINGS = {
    "es": "Hola María, gracias por llamar. Tiene un caso abierto.",
    "en": "Hello María, thank you for calling. You have one open case.",
    "pt": "Olá María, obrigado por ligar. Você tem um caso aberto.",
}


# Events and answers


def load_event(name: str) -> dict:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def contact_flow_event(
    name: str = "connect_identify_voice_known_caller", caller: Any = KNOWN_PHONE, **changes: Any
) -> dict:
    """Load a sample event and set its caller id, contact ids and flow parameters.

    `caller=None` makes `CustomerEndpoint` null. `changes` are the contact ids,
    `parameters` or other `ContactData` fields, such as `LanguageCode`.
    """
    return flow_event(name, caller=caller, **changes)


def case_status_event(reference: str | None, **changes: Any) -> dict:
    parameters = {"action": "case_status"}
    if reference is not None:
        parameters["case_reference"] = reference
    return contact_flow_event("connect_case_status_keyed", parameters=parameters, **changes)


def invoke_flow(client: Any, event: Any) -> dict:
    return client.lambda_.invoke("connect_contact_flow", copy.deepcopy(event)).payload


def identify(client: Any, caller: Any = KNOWN_PHONE, **changes: Any) -> dict:
    return invoke_flow(client, contact_flow_event(caller=caller, **changes))


def assert_flat_answer(answer: Any) -> None:
    """Check the shape Connect needs: a flat map of strings, a known result, under 32 KB."""
    assert isinstance(answer, dict)
    assert answer.get("result") in RESULTS
    assert all(isinstance(value, str) for value in answer.values()), answer
    assert all(ATTRIBUTE_KEY.match(key) for key in answer), answer
    assert len(json.dumps(answer, ensure_ascii=False).encode()) < MAX_ANSWER_BYTES
    assert answer.get("prompt")


# The table, read the way an operator reads it


def scan_items() -> list[dict]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE_NAME)
    items: list[dict] = []
    request: dict[str, Any] = {}
    while True:
        page = table.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def items_of_kind(pk_prefix: str, sk_prefix: str = "") -> list[dict]:
    return [
        item
        for item in scan_items()
        if item["pk"].startswith(pk_prefix) and item["sk"].startswith(sk_prefix)
    ]


def call_contacts() -> list[dict]:
    return [item for item in items_of_kind("CITIZEN#", "CONTACT#") if item["kind"] == "call"]


def identity_items(phone: str) -> list[dict]:
    return items_of_kind(f"IDENTITY#phone#{phone}")


def set_case_status(reference: str, status: str) -> None:
    """Change a case's status the way an agent's change would: the case and its citizen link."""
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE_NAME)
    digits = reference.replace("-", "")
    pointer = table.get_item(Key={"pk": f"REF#{digits}", "sk": "CASE"})["Item"]
    case_id = pointer["case_id"]
    table.update_item(
        Key={"pk": f"CASE#{case_id}", "sk": "CASE"},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": status},
    )
    table.update_item(
        Key={"pk": f"CITIZEN#{pointer['citizen_id']}", "sk": f"CASE#{case_id}"},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": status},
    )


# Citizens made known through web chat and SMS


@pytest.fixture
def sent_sms(client) -> list[dict]:
    """Stub End User Messaging SMS `SendTextMessage`, which moto 5.2 does not implement."""
    from chalicelib import aws

    sent: list[dict] = []

    def answer(params: dict, **_: Any) -> tuple[AWSResponse, dict]:
        sent.append(json.loads(params["body"]))
        return AWSResponse(params["url"], 200, {}, None), {"MessageId": f"sms-{len(sent)}"}

    events = aws.client("pinpoint-sms-voice-v2").meta.events
    events.register("before-call.pinpoint-sms-voice-v2.SendTextMessage", answer)
    return sent


def post_json(client: Any, path: str, body: dict, headers: dict | None = None) -> Any:
    headers = {"Content-Type": "application/json", **(headers or {})}
    return client.http.post(path, headers=headers, body=json.dumps(body))


def open_chat_case(client: Any, language: str = "es", phone: str | None = None) -> str:
    """Open a web chat as "María José Pérez", report a problem, and return the case reference."""
    body = {"agency_id": "demo", "name": "María José Pérez", "language": language}
    if phone is not None:
        body["phone"] = phone
    response = post_json(client, "/chat/sessions", body)
    assert response.status_code == 201, response.body
    session = json.loads(response.body)
    response = post_json(
        client,
        f"/chat/sessions/{session['session_id']}/messages",
        {"text": "Hay un bache frente a mi casa", "idempotency_key": "m-1"},
        {"X-Session-Token": session["session_token"]},
    )
    assert response.status_code == 201, response.body
    return json.loads(response.body)["case_reference"]


@pytest.fixture
def make_known_citizen(client, demo_agency, other_agency, sent_sms):
    """Return a function that makes KNOWN_PHONE a known citizen and returns its case reference.

    The citizen has one open case at the demo agency (opened by chat) and one at
    the other agency (opened by an SMS to that agency's number).
    """

    def make(language: str = "es") -> str:
        reference = open_chat_case(client, language)
        send_sms(client, KNOWN_PHONE, demo_agency["sms_number"], f"Mi caso es {reference}", "s-1")
        send_sms(client, KNOWN_PHONE, other_agency["sms_number"], "Hay una fuga de agua", "s-2")
        return reference

    return make


@pytest.fixture
def known_reference(make_known_citizen) -> str:
    return make_known_citizen()


def known_citizen_id() -> str:
    (link,) = items_of_kind(f"IDENTITY#phone#{KNOWN_PHONE}", "LINK")
    return link["citizen_id"]


# Requests and failures, seen where every botocore client sends


@pytest.fixture
def dynamodb_requests(monkeypatch) -> list[str]:
    """Collect the operation name of every DynamoDB request, pynamodb's included.

    pynamodb 6.1 sends through `BaseClient._make_api_call` of a client built
    from its own botocore session, so patching the class catches its requests.
    """
    operations: list[str] = []
    original = BaseClient._make_api_call

    def counting(client: BaseClient, operation_name: str, api_params: dict) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            operations.append(operation_name)
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return operations


@pytest.fixture
def fail_dynamodb(monkeypatch):
    """Return a function that makes every later DynamoDB request of one operation raise."""

    def fail(operation: str, error: Exception) -> None:
        original = BaseClient._make_api_call

        def failing(client: BaseClient, operation_name: str, api_params: dict) -> Any:
            is_dynamodb = client.meta.service_model.service_name == "dynamodb"
            if is_dynamodb and operation_name == operation:
                raise error
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", failing)

    return fail


def service_error(operation: str, code: str = "InternalServerError") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "simulated failure"}}, operation)


@pytest.fixture
def warm_contact_flow(client) -> None:
    """Fill the per-container agency cache with a call from another number, as a warm Lambda has."""
    identify(client, WARMING_PHONE, contact_id=OTHER_CALL)


@pytest.fixture
def log_lines(capsys, monkeypatch):
    """Return a function that returns the JSON log lines written to stdout since the last read."""
    from chalicelib.observability import logger

    def read() -> list[str]:
        # The handler took sys.stdout when the logger was created, and capsys puts
        # its own sys.stdout in place only while the test runs, so point it there.
        monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    return read


# Sample events of every channel and format


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_sample_event_answer(client, name):
    # The keyed samples quote a reference that no seeded case has.
    expected = "not_found" if name.endswith("_keyed") else "ok"

    answer = invoke_flow(client, load_event(name))

    assert_flat_answer(answer)
    assert answer["result"] == expected
    assert answer.get("known_caller", "false") == "false"


def test_empty_parameters_run_identify(client):
    answer = invoke_flow(client, load_event("connect_empty_parameters"))

    assert answer["result"] == "ok"
    assert "known_caller" in answer
    assert len(call_contacts()) == 1


def test_new_channel_value_is_recorded_lower_case(client):
    invoke_flow(client, load_event("connect_new_fields_and_enum_values"))

    (contact,) = call_contacts()
    assert contact["channel"] == "video"


def test_transferred_queue_leg_records_initial_contact(client):
    event = load_event("connect_queue_present")
    invoke_flow(client, event)

    (contact,) = call_contacts()
    assert contact["external_id"] == event["Details"]["ContactData"]["InitialContactId"]


# identify: a caller who is a known citizen


def test_identify_known_caller_answer(client, known_reference):
    answer = identify(client)

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["known_caller"] == "true"
    assert answer["first_name"] == "María"
    # The case at the other agency is not counted.
    assert answer["open_cases"] == "1"
    assert answer["channels"] == "chat,sms"
    assert answer["language"] == "es"
    assert answer["prompt"] == GREETINGS["es"]


def test_identify_known_caller_skips_resolved_cases(client, known_reference):
    set_case_status(known_reference, "resolved")

    answer = identify(client)

    assert answer["open_cases"] == "0"
    assert answer["prompt"] == "Hola María, gracias por llamar."


@pytest.mark.parametrize("language", ["es", "en", "pt"])
def test_identify_known_caller_language(client, make_known_citizen, language):
    make_known_citizen(language)

    answer = identify(client, LanguageCode="es-MX")

    assert answer["language"] == language
    assert answer["prompt"] == GREETINGS[language]


def test_identify_known_caller_gets_no_case_details(client, known_reference):
    answer = identify(client)

    for key in CASE_DETAIL_KEYS:
        assert key not in answer
    assert known_reference.replace("-", "") not in json.dumps(answer)


def test_identify_known_caller_recorded_on_timeline(client, known_reference):
    identify(client)

    (contact,) = call_contacts()
    assert contact["citizen_id"] == known_citizen_id()
    assert contact["agency_id"] == "demo"
    assert contact["channel"] == "voice"
    assert contact["identity_verified"] is False
    assert contact["actions"] == {"identify"}


# identify: a caller id no citizen has proven


def test_identify_unknown_caller_is_not_known(client):
    answer = identify(client, UNKNOWN_PHONE)

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["known_caller"] == "false"
    assert "first_name" not in answer
    assert answer["open_cases"] == "0"


def test_identify_unknown_caller_gets_no_case_details(client):
    answer = identify(client, UNKNOWN_PHONE)

    for key in CASE_DETAIL_KEYS:
        assert key not in answer


def test_identify_unknown_caller_opens_provisional_profile(client):
    identify(client, UNKNOWN_PHONE)

    (claim,) = identity_items(UNKNOWN_PHONE)
    (profile,) = items_of_kind(f"CITIZEN#{claim['citizen_id']}", "PROFILE")
    assert claim["sk"] == f"CLAIM#{claim['citizen_id']}"
    assert claim["verified"] is False
    assert claim["source_channel"] == "voice"
    assert profile["provisional"] is True


def test_identify_unknown_caller_again_reuses_profile(client):
    identify(client, UNKNOWN_PHONE, contact_id=FIRST_LEG)
    identify(client, UNKNOWN_PHONE, contact_id=OTHER_CALL)

    (claim,) = identity_items(UNKNOWN_PHONE)
    contacts = call_contacts()
    assert len(items_of_kind("CITIZEN#", "PROFILE")) == 1
    assert len(contacts) == 2
    assert {contact["citizen_id"] for contact in contacts} == {claim["citizen_id"]}


def test_identify_unknown_caller_language_code(client):
    answer = identify(client, UNKNOWN_PHONE, LanguageCode="pt-BR")

    assert answer["language"] == "pt"
    assert answer["prompt"] == "Olá, obrigado por ligar."


def test_identify_chat_claimed_caller_is_not_known(client):
    open_chat_case(client, phone=CHAT_CLAIMED_PHONE)

    answer = identify(client, CHAT_CLAIMED_PHONE)

    assert answer["known_caller"] == "false"
    assert "first_name" not in answer
    assert "channels" not in answer
    assert answer["open_cases"] == "0"


def test_identify_chat_claimed_caller_keeps_chat_profile(client):
    open_chat_case(client, phone=CHAT_CLAIMED_PHONE)
    (chat_claim,) = identity_items(CHAT_CLAIMED_PHONE)

    identify(client, CHAT_CLAIMED_PHONE)

    (contact,) = call_contacts()
    assert contact["citizen_id"] != chat_claim["citizen_id"]
    assert items_of_kind(f"IDENTITY#phone#{CHAT_CLAIMED_PHONE}", "LINK") == []


ANONYMOUS_ENDPOINTS = {
    "withheld": {"Address": "anonymous", "Type": "TELEPHONE_NUMBER"},
    "null": None,
    "empty": {"Address": "", "Type": "TELEPHONE_NUMBER"},
    "not_a_phone": {"Address": "sip:caller@example.org", "Type": "SIP_URI"},
}


@pytest.mark.parametrize("endpoint", ANONYMOUS_ENDPOINTS.values(), ids=ANONYMOUS_ENDPOINTS)
def test_identify_anonymous_caller_writes_nothing(client, endpoint):
    event = load_event("connect_identify_anonymous_caller")
    event["Details"]["ContactData"]["CustomerEndpoint"] = endpoint
    before = scan_items()

    answer = invoke_flow(client, event)

    assert answer["result"] == "ok"
    assert answer["known_caller"] == "false"
    assert "first_name" not in answer
    assert scan_items() == before


# case_status: a reference keyed on the phone


@pytest.mark.parametrize("keyed", ["{digits}", "{digits}#"], ids=["digits", "with_pound"])
def test_case_status_keyed_reference(client, known_reference, keyed):
    digits = known_reference.replace("-", "")

    answer = invoke_flow(client, case_status_event(keyed.format(digits=digits)))

    assert_flat_answer(answer)
    assert answer["result"] == "ok"
    assert answer["case_status"] == "open"
    assert answer["latest_case_reference"] == known_reference
    assert answer["latest_case_status"] == "open"


def test_case_status_prompt_speaks_digits(client, known_reference):
    digits = known_reference.replace("-", "")
    spoken = ", ".join(" ".join(group) for group in known_reference.split("-"))

    answer = invoke_flow(client, case_status_event(digits))

    assert answer["prompt"] == f"Su caso {spoken} está abierto."


def test_case_status_prompt_in_caller_language(client, make_known_citizen):
    reference = make_known_citizen("en")

    answer = invoke_flow(client, case_status_event(reference.replace("-", "")))

    assert answer["language"] == "en"
    assert answer["prompt"].startswith("Your case ")
    assert answer["prompt"].endswith(" is open.")


def test_case_status_unknown_caller_records_on_case_owner(client, known_reference):
    digits = known_reference.replace("-", "")

    answer = invoke_flow(client, case_status_event(digits, caller=UNKNOWN_PHONE))

    (contact,) = call_contacts()
    assert answer["result"] == "ok"
    assert contact["citizen_id"] == known_citizen_id()
    assert contact["case_reference"] == digits


def test_case_status_wrong_check_digit_is_invalid(client, known_reference):
    digits = known_reference.replace("-", "")
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)

    answer = invoke_flow(client, case_status_event(wrong))

    assert_flat_answer(answer)
    assert answer["result"] == "invalid"
    for key in CASE_DETAIL_KEYS:
        assert key not in answer


def test_case_status_unknown_reference_is_not_found(client, known_reference):
    assert known_reference.replace("-", "") != UNUSED_REFERENCE

    answer = invoke_flow(client, case_status_event(UNUSED_REFERENCE))

    assert_flat_answer(answer)
    assert answer["result"] == "not_found"
    for key in CASE_DETAIL_KEYS:
        assert key not in answer


@pytest.mark.parametrize(
    "keyed", [None, "", "#", "12345"], ids=["missing", "empty", "pound", "short"]
)
def test_case_status_missing_reference_is_invalid(client, keyed):
    answer = invoke_flow(client, case_status_event(keyed))

    assert_flat_answer(answer)
    assert answer["result"] == "invalid"


# Exactly once: one contact per call, whatever Connect repeats


def test_identify_retry_records_one_contact(client, known_reference):
    first = identify(client)
    second = identify(client)

    (contact,) = call_contacts()
    assert second == first
    assert contact["actions"] == {"identify"}
    assert len(items_of_kind("EVENT#voice#")) == 1


def test_unknown_caller_retry_opens_one_profile(client):
    identify(client, UNKNOWN_PHONE)
    identify(client, UNKNOWN_PHONE)

    assert len(call_contacts()) == 1
    assert len(items_of_kind("CITIZEN#", "PROFILE")) == 1
    assert len(identity_items(UNKNOWN_PHONE)) == 1


def test_identify_then_case_status_records_one_contact(client, known_reference):
    identify(client)
    invoke_flow(client, case_status_event(known_reference.replace("-", "")))

    (contact,) = call_contacts()
    assert contact["actions"] == {"identify", "case_status"}
    assert contact["case_reference"] == known_reference.replace("-", "")


def test_transferred_leg_records_one_contact(client, known_reference):
    identify(client, contact_id=FIRST_LEG)
    event = case_status_event(
        known_reference.replace("-", ""),
        contact_id=SECOND_LEG,
        initial_contact_id=FIRST_LEG,
        PreviousContactId=FIRST_LEG,
        InitiationMethod="TRANSFER",
    )

    answer = invoke_flow(client, event)

    (contact,) = call_contacts()
    assert answer["result"] == "ok"
    assert contact["actions"] == {"identify", "case_status"}


def test_case_status_retry_records_one_contact(client, known_reference):
    event = case_status_event(known_reference.replace("-", ""))
    identify(client)
    first = invoke_flow(client, event)
    second = invoke_flow(client, event)

    (contact,) = call_contacts()
    assert second == first
    assert contact["actions"] == {"identify", "case_status"}


def test_case_status_other_agency_case_not_found(client, known_reference, sent_sms):
    (water_case,) = [
        item for item in items_of_kind("CASE#", "CASE") if item["agency_id"] == "water"
    ]
    identify(client)

    answer = invoke_flow(client, case_status_event(water_case["reference"]))

    (contact,) = call_contacts()
    assert answer["result"] == "not_found"
    assert "case_status" not in answer
    assert contact["actions"] == {"identify"}
    assert "case_id" not in contact


# Failures: always an answer the flow can speak, never an exception


MALFORMED_EVENTS = {
    "string": "ContactFlowEvent",
    "list": [{"Details": {}}],
    "empty": {},
    "no_details": {"Name": "ContactFlowEvent"},
    "no_contact_data": {"Name": "ContactFlowEvent", "Details": {"Parameters": {}}},
}


@pytest.mark.parametrize("event", MALFORMED_EVENTS.values(), ids=MALFORMED_EVENTS)
def test_malformed_event_answers_error(client, event):
    answer = invoke_flow(client, event)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "invalid_request"


@pytest.mark.parametrize("field", ["InstanceARN", "ContactId"])
def test_missing_contact_field_answers_error(client, field):
    event = contact_flow_event()
    del event["Details"]["ContactData"][field]

    answer = invoke_flow(client, event)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "invalid_request"


def test_unknown_instance_answers_error(client):
    arn = "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-000000000000"
    event = contact_flow_event(InstanceARN=arn)

    answer = invoke_flow(client, event)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "not_found"
    assert call_contacts() == []


def test_unknown_action_answers_error(client):
    answer = identify(client, parameters={"action": "transfer_money"})

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "unknown_action"


def test_error_prompt_uses_flow_language(client):
    answer = identify(client, parameters={"action": "transfer_money"}, LanguageCode="en-US")

    assert answer["language"] == "en"
    assert answer["prompt"] == "Sorry, we cannot help you right now."


def test_dynamodb_read_failure_answers_error(client, known_reference, monkeypatch):
    from chalicelib.store.models import CitizenCase

    def failing_query(*args: Any, **kwargs: Any) -> Any:
        raise QueryError("Failed to query items: simulated failure")

    monkeypatch.setattr(CitizenCase, "query", failing_query)
    before = scan_items()

    answer = identify(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "unavailable"
    assert scan_items() == before


@pytest.mark.parametrize(
    "error",
    [service_error("TransactWriteItems"), ReadTimeoutError(endpoint_url="https://dynamodb")],
    ids=["service_error", "read_timeout"],
)
def test_dynamodb_write_failure_writes_nothing(client, fail_dynamodb, error):
    before = scan_items()
    fail_dynamodb("TransactWriteItems", error)

    answer = identify(client, UNKNOWN_PHONE)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "unavailable"
    assert scan_items() == before


def test_dynamodb_throttled_read_answers_error(client, fail_dynamodb):
    fail_dynamodb("Query", service_error("Query", "ProvisionedThroughputExceededException"))

    answer = identify(client, UNKNOWN_PHONE)

    assert answer["result"] == "error"
    assert answer["error_code"] == "unavailable"


def test_contact_update_failure_keeps_contact(client, known_reference, fail_dynamodb):
    identify(client)
    fail_dynamodb("UpdateItem", service_error("UpdateItem"))

    answer = invoke_flow(client, case_status_event(known_reference.replace("-", "")))

    (contact,) = call_contacts()
    assert answer["result"] == "error"
    assert contact["actions"] == {"identify"}
    assert "case_id" not in contact


def test_case_status_missing_contact_writes_nothing(client, known_reference):
    identify(client)
    (contact,) = call_contacts()
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE_NAME)
    table.delete_item(Key={"pk": contact["pk"], "sk": contact["sk"]})

    answer = invoke_flow(client, case_status_event(known_reference.replace("-", "")))

    assert answer["result"] == "error"
    assert call_contacts() == []


def test_deleted_table_answers_error(client):
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=TABLE_NAME)

    answer = identify(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "unavailable"


def test_unexpected_error_answers_error(client, monkeypatch):
    from chalicelib.journey import calls

    def broken(call: Any) -> dict:
        raise KeyError("simulated bug")

    monkeypatch.setattr(calls, "identify", broken)

    answer = identify(client)

    assert_flat_answer(answer)
    assert answer["result"] == "error"
    assert answer["error_code"] == "internal_error"


# Time: Connect waits at most 8 s for the function


def test_model_requests_have_short_timeouts(client):
    from chalicelib.store.models import CitizenProfile

    config = CitizenProfile._get_connection().connection.client.meta.config

    assert config.connect_timeout == 1
    assert config.read_timeout == 1
    # One attempt and at most one retry.
    assert config.retries["total_max_attempts"] == 2


def test_one_request_worst_case_arithmetic(client):
    """Compute how long one failing model request can take under the configured limits.

    Each attempt waits at most connect_timeout to connect and read_timeout for the
    response. botocore 1.43's standard retry mode waits rand(0, 1) * 2 ** (n - 1)
    seconds before retry n, so at most 1 s before the one retry.
    """
    from chalicelib.store.models import TableItem

    meta = TableItem.Meta
    attempts = 1 + meta.max_retry_attempts
    backoff = sum(2 ** (retry - 1) for retry in range(1, attempts))
    unreachable = attempts * meta.connect_timeout_seconds + backoff
    not_answering = attempts * meta.read_timeout_seconds + backoff
    every_limit = attempts * (meta.connect_timeout_seconds + meta.read_timeout_seconds) + backoff

    assert (unreachable, not_answering, every_limit) == (3, 3, 5)
    # NOTE: these bound one request. identify makes up to four in sequence, so
    # a DynamoDB failing on each of them can still outlast Connect's 8 s; the
    # flow then takes its error branch on Connect's own timeout.


def test_transaction_requests_have_short_timeouts(client):
    from chalicelib.store import transactions

    config = transactions._connection().client.meta.config

    assert config.connect_timeout == 1
    assert config.read_timeout == 1
    assert config.retries["total_max_attempts"] == 2


def test_identify_known_caller_request_count(
    client, known_reference, warm_contact_flow, dynamodb_requests
):
    dynamodb_requests.clear()

    answer = identify(client)

    assert answer["known_caller"] == "true"
    assert len(dynamodb_requests) <= 4
    assert dynamodb_requests == ["Query", "GetItem", "Query", "TransactWriteItems"]


def test_identify_unknown_caller_request_count(client, warm_contact_flow, dynamodb_requests):
    dynamodb_requests.clear()

    identify(client, UNKNOWN_PHONE)

    assert dynamodb_requests == ["Query", "TransactWriteItems"]


def test_case_status_after_identify_request_count(client, known_reference, dynamodb_requests):
    identify(client)
    dynamodb_requests.clear()

    answer = invoke_flow(client, case_status_event(known_reference.replace("-", "")))

    assert answer["result"] == "ok"
    assert len(dynamodb_requests) <= 4
    assert dynamodb_requests == ["Query", "TransactGetItems", "GetItem", "UpdateItem"]


def test_case_status_first_action_request_count(
    client, known_reference, warm_contact_flow, dynamodb_requests
):
    dynamodb_requests.clear()

    answer = invoke_flow(client, case_status_event(known_reference.replace("-", "")))

    assert answer["result"] == "ok"
    assert len(dynamodb_requests) <= 4
    assert dynamodb_requests == ["Query", "TransactGetItems", "GetItem", "TransactWriteItems"]


# Logs: one JSON line per event, never a phone number


def test_logs_contain_no_phone_number(client, known_reference, log_lines, fail_dynamodb):
    digits = known_reference.replace("-", "")
    log_lines()

    identify(client)
    identify(client, UNKNOWN_PHONE, contact_id=OTHER_CALL)
    invoke_flow(client, case_status_event(digits))
    invoke_flow(client, case_status_event(UNUSED_REFERENCE, caller=UNKNOWN_PHONE))
    invoke_flow(client, contact_flow_event(caller=KNOWN_PHONE, InstanceARN="arn:unknown"))
    fail_dynamodb("Query", service_error("Query"))
    identify(client, UNKNOWN_PHONE, contact_id=SECOND_LEG)
    lines = log_lines()

    assert len(lines) >= 6
    for national in (KNOWN_NATIONAL, UNKNOWN_NATIONAL):
        assert not any(national in line for line in lines), national


def test_logs_name_agency_and_action(client, known_reference, log_lines):
    log_lines()

    identify(client)
    (answered,) = [json.loads(line) for line in log_lines() if '"contact flow answered"' in line]

    assert answered["agency"] == "demo"
    assert answered["action"] == "identify"
    assert answered["result"] == "ok"
    assert answered["correlation_id"] == FIRST_LEG
