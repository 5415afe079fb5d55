"""Helpers for the contact flow's self-service actions: events, a Connect stub, known callers.

Connect's StartTaskContact is answered by botocore's Stubber on the product's own
client, because moto 5.2 returns 404 "Not yet implemented" for it. Citizens become
known through the product's own paths: a web chat opened with a name, then an SMS from
the citizen's phone quoting the chat's case reference, which proves that the phone
belongs to the chat's citizen.
"""

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient
from botocore.stub import ANY, Stubber

from chalicelib import aws
from tests import support

CALLER = "+525541637145"
UNKNOWN_CALLER = "+525587654321"
FIRST_LEG = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
SECOND_LEG = "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e11"
OTHER_CALL = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"
QUEUE_ARN = (
    "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
    "/queue/3f4a5b6c-7d8e-4f9a-8b0c-1d2e3f4a5b08"
)
INSTANCE_ID = "0c0d0e0f-0000-4000-8000-00000000d3e0"
TASK_CONTACT_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61"

RESULTS = {"ok", "not_found", "invalid", "error"}
# Connect's limit on the answer of a Lambda function, and the characters a flow
# accepts in the key of a contact attribute.
MAX_ANSWER_BYTES = 32 * 1024
ATTRIBUTE_KEY_CHARACTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
CASE_DETAIL_KEYS = ("latest_case_reference", "latest_case_status", "case_status")


# Contact flow events


def flow_event(
    name: str,
    *,
    caller: Any = CALLER,
    contact_id: str = FIRST_LEG,
    initial_contact_id: str | None = None,
    parameters: dict | None = None,
    **contact_data: Any,
) -> dict:
    """Load a contact flow sample event and set its caller id, contact ids and parameters.

    `caller=None` makes `CustomerEndpoint` null; `contact_data` replaces other fields.
    """
    event = support.load_event(name)
    data = event["Details"]["ContactData"]
    if caller is None:
        data["CustomerEndpoint"] = None
    else:
        data["CustomerEndpoint"] = {"Address": caller, "Type": "TELEPHONE_NUMBER"}
    data["ContactId"] = contact_id
    data["InitialContactId"] = initial_contact_id or contact_id
    data.update(contact_data)
    if parameters is not None:
        event["Details"]["Parameters"] = parameters
    return event


def invoke_flow(client: Any, event: Any) -> dict:
    return client.lambda_.invoke("connect_contact_flow", copy.deepcopy(event)).payload


def identify(client: Any, caller: str = CALLER, **changes: Any) -> dict:
    event = flow_event("connect_identify_voice_known_caller", caller=caller, **changes)
    return invoke_flow(client, event)


def assert_flat_answer(answer: Any) -> None:
    """Check the shape Connect needs: a flat map of strings, a known result, under 32 KB."""
    assert isinstance(answer, dict)
    assert answer.get("result") in RESULTS, answer
    assert all(isinstance(value, str) for value in answer.values()), answer
    assert all(set(key) <= ATTRIBUTE_KEY_CHARACTERS for key in answer), answer
    assert len(json.dumps(answer, ensure_ascii=False).encode()) < MAX_ANSWER_BYTES
    assert answer.get("prompt")


# Connect's StartTaskContact


class ConnectTasks:
    """StartTaskContact answered by botocore's Stubber, with every request's parameters kept.

    Stubber raises for a request it has no response queued for, which the product
    turns into an error answer: a test that queues nothing asserts that no task starts.
    """

    def __init__(self) -> None:
        self.client = aws.client("connect")
        self.stubber = Stubber(self.client)
        self.requests: list[dict] = []
        self.client.meta.events.register(
            "before-parameter-build.connect.StartTaskContact", self._keep
        )

    def answer(self, contact_id: str = TASK_CONTACT_ID, **expected: Any) -> None:
        """Queue the response to one request, whose parameters must equal `expected` where given."""
        params = {
            "InstanceId": ANY,
            "ContactFlowId": ANY,
            "PreviousContactId": ANY,
            "Name": ANY,
            "Description": ANY,
            "References": ANY,
            "Attributes": ANY,
            "ClientToken": ANY,
            **expected,
        }
        self.stubber.add_response("start_task_contact", {"ContactId": contact_id}, params)

    def fail(self, code: str = "ThrottlingException", status: int = 429) -> None:
        self.stubber.add_client_error("start_task_contact", code, http_status_code=status)

    def _keep(self, params: dict, **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))


@contextmanager
def connect_tasks() -> Iterator[ConnectTasks]:
    tasks = ConnectTasks()
    with tasks.stubber:
        yield tasks


# Citizens


def make_known_caller(client: Any, agency: dict, phone: str = CALLER, language: str = "es") -> str:
    """Make `phone` the verified phone of a chat citizen with an open case; return its reference."""
    session = support.open_chat(
        client, agency["agency_id"], name="María José Pérez", language=language
    )
    response = support.post_chat(client, session, "Hay un bache frente a mi casa", "m-1")
    assert response.status_code == 201, response.json_body
    reference = response.json_body["case_reference"]
    send_sms(client, phone, agency["sms_number"], f"Mi caso es {reference}", "s-1")
    return reference


def send_sms(client: Any, sender: str, destination: str, text: str, message_id: str) -> None:
    message = {
        "originationNumber": sender,
        "destinationNumber": destination,
        "messageBody": text,
        "inboundMessageId": message_id,
    }
    event = client.events.generate_sns_event(message=json.dumps(message))
    client.lambda_.invoke("inbound_sms", event)


def citizen_of(phone: str) -> str:
    """Return the citizen that owns a verified phone."""
    link = support.phone_link(phone)
    assert link is not None, f"{phone} has no owner"
    return link["citizen_id"]


def contacts_of_kind(kind: str) -> list[dict]:
    return [item for item in support.contacts() if item["kind"] == kind]


def remove_agency_setting(agency_id: str, field: str) -> None:
    """Remove one setting of a seeded agency and forget the cached copy."""
    from chalicelib import agencies

    support.table().update_item(
        Key={"pk": f"AGENCY#{agency_id}", "sk": "CONFIG"},
        UpdateExpression="REMOVE #field",
        ExpressionAttributeNames={"#field": field},
    )
    agencies.clear_cache()


# Slow dependencies, without sleeping


class SlowDynamoDB:
    """A clock for `chalicelib.deadline` that every DynamoDB request moves forward.

    Each request takes `seconds` of this clock and none of the wall clock, so a test
    can spend a contact flow's deadline without waiting.
    """

    def __init__(self, monkeypatch: Any, seconds: float) -> None:
        from chalicelib import deadline

        self.now = 1000.0
        self.seconds = seconds
        monkeypatch.setattr(deadline, "_now", lambda: self.now)
        original = BaseClient._make_api_call
        clock = self

        def slow(client: BaseClient, operation_name: str, api_params: dict) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                clock.now += clock.seconds
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", slow)
