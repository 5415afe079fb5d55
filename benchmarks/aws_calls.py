"""Print the AWS requests each handler makes per scenario, and what workflow runs cost.

Run from the repository root: `python -m benchmarks.aws_calls`, or with the argument
`workflows` for the workflow runs' table alone. Each scenario gets
a fresh moto in process with every resource of infra/ and the demo agencies, as
the `aws` test fixture builds them, drives the app through `chalice.test.Client`,
and counts only the event under measurement (tests/support_calls.py). The counts
are exact and do not depend on the machine. tests/functional/test_cost.py asserts
the same scenarios. A second table counts the state transitions, task queue messages,
staff alerts and SMS of one workflow execution per scenario (complaint deadlines and
satisfaction surveys), which is what Step Functions standard workflows, SQS and SNS
bill. tests/functional/test_surveys.py asserts the survey runs' counts.
"""

import os

from tests.environment import apply_test_environment

# Set before anything imports the app, as the test fixtures do.
apply_test_environment()
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from benchmarks import appointments
from chalicelib import clock
from tests import support_notify as notify_hooks
from tests import support_streams as streams
from tests import support_webhooks as hooks
from tests.support_calls import AwsCallLog, count_aws_calls, stub_send_text_message
from tests.support_connect import connect_tasks

time.tzset()

GRAPH_CLOSED_PORT = os.environ["VENTANILLA_META_GRAPH_URL"]

STAGE = "test"
CITIZEN_PHONE = "+525541637145"
OTHER_PHONE = "+525541637146"
REPLY = "Una cuadrilla revisará la fuga mañana."
CALL_ID = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
WARMING_CALL_ID = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"


class ScenarioError(RuntimeError):
    """Raised when a scenario's event did not take the path it is meant to measure."""


class Driver:
    """Helper that sends the cost scenarios' events through the Chalice test client."""

    def __init__(self, client: Client, agency: dict[str, str]) -> None:
        self.client = client
        self.agency = agency
        self.sent_sms = stub_send_text_message()
        self._agent_key: Any = None

    def sms(self, sender: str, body: str, message_id: str) -> None:
        message = {
            "originationNumber": sender,
            "destinationNumber": self.agency["sms_number"],
            "messageBody": body,
            "inboundMessageId": message_id,
        }
        event = self.client.events.generate_sns_event(message=json.dumps(message))
        self.client.lambda_.invoke("inbound_sms", event)

    def open_chat(self) -> tuple[str, str]:
        body = {"agency_id": self.agency["agency_id"], "name": "Ana López", "language": "es"}
        response = self._post("/chat/sessions", body, {})
        _expect(response.status_code == 201, f"chat session not opened: {response.status_code}")
        opened = json.loads(response.body)
        return opened["session_id"], opened["session_token"]

    def chat(self, session: tuple[str, str], text: str, key: str) -> dict[str, Any]:
        session_id, token = session
        path = f"/chat/sessions/{session_id}/messages"
        body = {"text": text, "idempotency_key": key}
        response = self._post(path, body, {"X-Session-Token": token})
        _expect(response.status_code in (200, 201), f"chat message failed: {response.status_code}")
        return json.loads(response.body)

    def call(
        self, caller: str, action: str, case_reference: str | None = None, call_id: str = CALL_ID
    ) -> dict[str, str]:
        parameters = {"action": action}
        if case_reference is not None:
            parameters["case_reference"] = case_reference
        event = connect_event(self.agency["connect_instance_arn"], call_id, caller, parameters)
        flow_response = self.client.lambda_.invoke("connect_contact_flow", event).payload
        _expect(flow_response.get("result") == "ok", f"contact flow returned {flow_response!r}")
        return flow_response

    def whatsapp(self, message_id: str, text: str, user_id: str | None = None) -> None:
        raw = hooks.whatsapp_body(message_id, text, user_id)
        self._signed(hooks.WHATSAPP_PATH, raw, self.agency["whatsapp_app_secret"])

    def whatsapp_status(self, message_id: str, status: str) -> None:
        payload = json.loads(hooks.raw_event("whatsapp_statuses"))
        value = payload["entry"][0]["changes"][0]["value"]
        sample = next(item for item in value["statuses"] if item["status"] == status)
        value["statuses"] = [{**sample, "id": message_id}]
        raw = hooks.signed_json(payload)
        self._signed(hooks.WHATSAPP_PATH, raw, self.agency["whatsapp_app_secret"])

    def social(self, message_id: str, text: str, phone_number_id: str | None = None) -> None:
        event = hooks.social_event(message_id, text)
        if phone_number_id is not None:
            event = _to_number(event, phone_number_id)
        hooks.invoke(self.client, "inbound_whatsapp_social", event)

    def messenger(self, message_id: str, text: str) -> None:
        raw = hooks.messenger_body(message_id, text)
        self._signed(hooks.MESSENGER_PATH, raw, self.agency["messenger_app_secret"])

    def email(self, ses_message_id: str, message_id: str, in_reply_to: str | None = None) -> None:
        event = hooks.email_event(ses_message_id, message_id, in_reply_to)
        hooks.invoke(self.client, "inbound_email", event)

    def new_container(self) -> None:
        """Empty the per-container agency cache, as a Lambda function's first event finds it.

        Chalice deploys each event handler as its own Lambda function, so the contact
        flow function does not share the cache that SMS events filled.
        """
        from chalicelib import agencies

        agencies.clear_cache()

    def warm_contact_flow(self) -> None:
        """Fill the contact flow function's agency cache with a call from another number."""
        self.new_container()
        self.call(OTHER_PHONE, "identify", call_id=WARMING_CALL_ID)

    def last_sms_reference(self) -> str:
        """Return the case reference quoted in the last SMS sent, as keyed on a phone."""
        from chalicelib.journey.references import find_references

        _expect(bool(self.sent_sms), "no SMS was sent")
        references = find_references(self.sent_sms[-1]["MessageBody"])
        _expect(bool(references), "the last SMS sent quotes no case reference")
        return references[0]

    def reply(self, case_id: str, key: str, agency_id: str = "demo") -> dict[str, Any]:
        """Post an agent's reply to a case, as an agent of `agency_id`."""
        body = {"text": REPLY, "idempotency_key": key}
        response = self._post(f"/cases/{case_id}/replies", body, self.headers(agency_id))
        _expect(response.status_code in (200, 201), f"reply failed: {response.body!r}")
        return json.loads(response.body)

    def change_case(self, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a case with `PATCH /cases/{id}`, as an agent of the demo agency."""
        headers = {"Content-Type": "application/json", **self.headers("demo")}
        response = self.client.http.request(
            method="PATCH", path=f"/cases/{case_id}", headers=headers, body=json.dumps(body)
        )
        _expect(response.status_code == 200, f"case change failed: {response.body!r}")
        return json.loads(response.body)

    def headers(self, agency_id: str = "demo", role: str = "agent") -> dict[str, str]:
        """Return the Authorization header of a signed-in person of `agency_id` with `role`."""
        from infra.local import dev_keys

        if self._agent_key is None:
            self._agent_key = dev_keys.generate_key()
            ssm = boto3.client("ssm", region_name="us-east-1")
            dev_keys.put_public_key(ssm, STAGE, self._agent_key)
        token = dev_keys.mint_token(
            self._agent_key,
            sub=f"{role}-{agency_id}",
            name="Agente",
            roles=[role],
            agency_id=agency_id,
            ttl_seconds=900,
        )
        return {"Authorization": f"Bearer {token}"}

    @contextmanager
    def graph(self) -> Iterator[Any]:
        """Point the Graph API base URL at a loopback fake while the block runs."""
        from aws_lambda_powertools.utilities import parameters

        with notify_hooks.graph_fake() as fake:
            os.environ["VENTANILLA_META_GRAPH_URL"] = fake.url
            notify_hooks.reload_settings()
            parameters.clear_caches()
            try:
                yield fake
            finally:
                os.environ["VENTANILLA_META_GRAPH_URL"] = GRAPH_CLOSED_PORT
                notify_hooks.reload_settings()

    def _signed(self, path: str, raw: bytes, secret: str) -> None:
        response = hooks.post_signed(self.client, path, raw, secret)
        _expect(response.status_code == 200, f"{path} returned {response.status_code}")

    def _post(self, path: str, body: dict, headers: dict[str, str]) -> Any:
        headers = {"Content-Type": "application/json", **headers}
        return self.client.http.post(path, headers=headers, body=json.dumps(body))


def connect_event(
    instance_arn: str, contact_id: str, caller: str, parameters: dict[str, str]
) -> dict[str, Any]:
    """Build a contact flow invocation of Connect's "Invoke AWS Lambda function" block."""
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "Channel": "VOICE",
                "InstanceARN": instance_arn,
                "InitiationMethod": "INBOUND",
                "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+525550000101", "Type": "TELEPHONE_NUMBER"},
                "Attributes": {},
                "LanguageCode": "es-MX",
            },
            "Parameters": parameters,
        },
    }


def _to_number(event: dict[str, Any], phone_number_id: str) -> dict[str, Any]:
    """Address a Social SNS event to another business number."""
    message = hooks.sns_message(event)
    entry = json.loads(message["whatsAppWebhookEntry"])
    entry["changes"][0]["value"]["metadata"]["phone_number_id"] = phone_number_id
    message["whatsAppWebhookEntry"] = json.dumps(entry, ensure_ascii=False)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message, ensure_ascii=False)
    return event


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioError(message)


@contextmanager
def fresh_stack() -> Iterator[Driver]:
    """Start moto with the resources of infra/ and the seeded agencies, as the `aws` fixture."""
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        pytest.MonkeyPatch.context() as patch,
    ):
        from infra.local.seed import DEMO_AGENCY, seed_all, seed_secrets
        from infra.resources import create_resources
        from tests.support import copy_tables_once_per_transaction, serialize_moto_requests

        serialize_moto_requests(patch)
        copy_tables_once_per_transaction(patch)
        # moto in process records far slower than DynamoDB, so the webhook budget's clock
        # is stopped: every scenario counts a delivery that is recorded whole.
        patch.setattr(clock, "monotonic", lambda: 0.0)
        _reset_caches()
        create_resources(boto3.session.Session(region_name="us-east-1"), STAGE)
        seed_all()
        seed_secrets(boto3.client("ssm", region_name="us-east-1"), STAGE)

        from app import app

        with Client(app) as client:
            yield Driver(client, DEMO_AGENCY)
        _reset_caches()


def _reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from chalicelib import agencies, aws
    from chalicelib.store import models, transactions

    parameters.clear_caches()
    agencies.clear_cache()
    aws.reset_clients()
    transactions.reset_connection()
    for model in models.ENTITIES:
        model._connection = None


def sms_unknown_cold(driver: Driver) -> AwsCallLog:
    with count_aws_calls() as log:
        driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    return log


def sms_unknown_warm(driver: Driver) -> AwsCallLog:
    driver.sms(OTHER_PHONE, "Hola", "sms-0")
    with count_aws_calls() as log:
        driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    return log


def sms_known(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    with count_aws_calls() as log:
        driver.sms(CITIZEN_PHONE, "Sigue saliendo agua", "sms-2")
    return log


def sms_known_quoting(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    reference = driver.last_sms_reference()
    with count_aws_calls() as log:
        driver.sms(CITIZEN_PHONE, f"Sobre mi caso {reference}", "sms-2")
    return log


def sms_duplicate(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.sms(CITIZEN_PHONE, "Sigue saliendo agua", "sms-2")
    with count_aws_calls() as log:
        driver.sms(CITIZEN_PHONE, "Sigue saliendo agua", "sms-2")
    return log


def chat_open(driver: Driver) -> AwsCallLog:
    with count_aws_calls() as log:
        driver.open_chat()
    return log


def chat_first_message(driver: Driver) -> AwsCallLog:
    session = driver.open_chat()
    with count_aws_calls() as log:
        posted = driver.chat(session, "Quiero reportar un bache", "m-1")
    _expect(posted["case_opened"], "the first chat message opened no case")
    return log


def chat_message(driver: Driver) -> AwsCallLog:
    session = driver.open_chat()
    driver.chat(session, "Quiero reportar un bache", "m-1")
    with count_aws_calls() as log:
        posted = driver.chat(session, "Está en la esquina de Hidalgo", "m-2")
    _expect(not posted["case_opened"], "the second chat message opened a case")
    return log


def chat_duplicate(driver: Driver) -> AwsCallLog:
    session = driver.open_chat()
    driver.chat(session, "Quiero reportar un bache", "m-1")
    with count_aws_calls() as log:
        posted = driver.chat(session, "Quiero reportar un bache", "m-1")
    _expect(posted["duplicate"], "the repeated chat message was not seen as a duplicate")
    return log


def identify_known_cold(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.new_container()
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "identify")
    return log


def identify_known(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.warm_contact_flow()
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "identify")
    return log


def identify_unknown(driver: Driver) -> AwsCallLog:
    driver.warm_contact_flow()
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "identify")
    return log


def case_status_after_identify(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    reference = driver.last_sms_reference()
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "case_status", reference)
    return log


def case_status_first(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    reference = driver.last_sms_reference()
    driver.warm_contact_flow()
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "case_status", reference)
    return log


def callback_after_identify(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    with connect_tasks() as tasks:
        tasks.answer()
        with count_aws_calls() as log:
            answer = driver.call(CITIZEN_PHONE, "request_callback")
    _expect(answer["callback_scheduled"] == "true", "the callback was not scheduled")
    return log


def callback_first(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.warm_contact_flow()
    with connect_tasks() as tasks:
        tasks.answer()
        with count_aws_calls() as log:
            driver.call(CITIZEN_PHONE, "request_callback")
    return log


def callback_repeated(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    with connect_tasks() as tasks:
        tasks.answer()
        driver.call(CITIZEN_PHONE, "request_callback")
        with count_aws_calls() as log:
            driver.call(CITIZEN_PHONE, "request_callback")
    _expect(len(tasks.requests) == 1, "the repeated request started a second task")
    return log


def link_unknown_after_identify(driver: Driver) -> AwsCallLog:
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    with count_aws_calls() as log:
        answer = driver.call(CITIZEN_PHONE, "send_link")
    _expect(answer["link_content"] == "link", f"send_link sent {answer['link_content']}")
    _expect(answer["link_channel"] == "sms", f"the link went by {answer['link_channel']}")
    return log


def summary_known_after_identify(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    with count_aws_calls() as log:
        answer = driver.call(CITIZEN_PHONE, "send_link")
    _expect(answer["link_content"] == "case_summary", f"send_link sent {answer['link_content']}")
    return log


def link_repeated(driver: Driver) -> AwsCallLog:
    driver.new_container()
    driver.call(CITIZEN_PHONE, "identify")
    driver.call(CITIZEN_PHONE, "send_link")
    with count_aws_calls() as log:
        driver.call(CITIZEN_PHONE, "send_link")
    _expect(len(driver.sent_sms) == 1, "the repeated request sent a second SMS")
    return log


def whatsapp_known(driver: Driver) -> AwsCallLog:
    driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle")
    with count_aws_calls() as log:
        driver.whatsapp("wamid.bench-2", "Sigue saliendo agua")
    return log


def whatsapp_both_ids(driver: Driver) -> AwsCallLog:
    driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle", user_id="MX.1")
    with count_aws_calls() as log:
        driver.whatsapp("wamid.bench-2", "Sigue saliendo agua", user_id="MX.1")
    return log


def whatsapp_duplicate(driver: Driver) -> AwsCallLog:
    driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle")
    with count_aws_calls() as log:
        driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle")
    return log


# A large delivery: LARGE_SENDERS citizens with open cases, LARGE_PER_SENDER messages each.
LARGE_SENDERS = 30
LARGE_PER_SENDER = 10


def _large_delivery(driver: Driver) -> bytes:
    """Open a case for each sender of the large delivery, and return that delivery's body."""
    secret = driver.agency["whatsapp_app_secret"]
    opening = hooks.whatsapp_batch_body(LARGE_SENDERS, 1, prefix="wamid.opening")
    # The cases' notices go to the loopback Graph API, so no failed send is logged.
    with driver.graph():
        response = hooks.post_signed(driver.client, hooks.WHATSAPP_PATH, opening, secret)
    _expect(response.status_code == 200, f"opening messages returned {response.status_code}")
    return hooks.whatsapp_batch_body(LARGE_SENDERS, LARGE_PER_SENDER)


def whatsapp_large(driver: Driver) -> AwsCallLog:
    raw = _large_delivery(driver)
    with count_aws_calls() as log:
        driver._signed(hooks.WHATSAPP_PATH, raw, driver.agency["whatsapp_app_secret"])
    return log


def whatsapp_large_redelivered(driver: Driver) -> AwsCallLog:
    raw = _large_delivery(driver)
    driver._signed(hooks.WHATSAPP_PATH, raw, driver.agency["whatsapp_app_secret"])
    with count_aws_calls() as log:
        driver._signed(hooks.WHATSAPP_PATH, raw, driver.agency["whatsapp_app_secret"])
    return log


def whatsapp_status(driver: Driver) -> AwsCallLog:
    hooks.seed_outbound("whatsapp", "wamid.out-1", "c0ffee00c0ffee00c0ffee00c0ffee00")
    driver.whatsapp_status("wamid.out-1", "sent")
    with count_aws_calls() as log:
        driver.whatsapp_status("wamid.out-1", "read")
    return log


def social_known(driver: Driver) -> AwsCallLog:
    driver.social("wamid.bench-1", "Hay una fuga de agua en mi calle")
    with count_aws_calls() as log:
        driver.social("wamid.bench-2", "Sigue saliendo agua")
    return log


def messenger_known(driver: Driver) -> AwsCallLog:
    driver.messenger("m_bench-1", "Hay una fuga de agua en mi calle")
    with count_aws_calls() as log:
        driver.messenger("m_bench-2", "Sigue saliendo agua")
    return log


def email_known(driver: Driver) -> AwsCallLog:
    driver.email("ses-bench-1", "<bench-1@example.net>")
    with count_aws_calls() as log:
        driver.email("ses-bench-2", "<bench-2@example.net>")
    return log


def email_reply(driver: Driver) -> AwsCallLog:
    driver.email("ses-bench-1", "<bench-1@example.net>")
    with count_aws_calls() as log:
        driver.email("ses-bench-2", "<bench-2@example.net>", in_reply_to="<bench-1@example.net>")
    return log


def email_quarantined(driver: Driver) -> AwsCallLog:
    driver.email("ses-bench-1", "<bench-1@example.net>")
    with count_aws_calls() as log:
        hooks.invoke(driver.client, "inbound_email", hooks.sns_event("ses_received_spam_fail"))
    return log


def only_case() -> str:
    """Return the id of the one case a scenario's setup opened."""
    from tests import support

    (case,) = support.items_of_kind("CASE#", "CASE")
    return case["case_id"]


def reply_sms(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    case_id = only_case()
    driver.reply(case_id, "reply-0")
    with count_aws_calls() as log:
        driver.reply(case_id, "reply-1")
    return log


def reply_sms_duplicate(driver: Driver) -> AwsCallLog:
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    case_id = only_case()
    driver.reply(case_id, "reply-1")
    with count_aws_calls() as log:
        answer = driver.reply(case_id, "reply-1")
    _expect(answer["duplicate"], "the repeated reply was not seen as a duplicate")
    return log


def reply_whatsapp(driver: Driver) -> AwsCallLog:
    with driver.graph():
        driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle")
        case_id = only_case()
        driver.reply(case_id, "reply-0")
        with count_aws_calls() as log:
            answer = driver.reply(case_id, "reply-1")
    _expect(answer["channel"] == "whatsapp", f"the reply went by {answer['channel']}")
    return log


def reply_whatsapp_opted_out(driver: Driver) -> AwsCallLog:
    with driver.graph():
        driver.whatsapp("wamid.bench-1", "Hay una fuga de agua en mi calle")
        case_id = only_case()
        citizen_id = only_citizen()
        notify_hooks.link_identity(citizen_id, "phone", CITIZEN_PHONE)
        driver.whatsapp("wamid.bench-2", "STOP")
        driver.reply(case_id, "reply-0")
        with count_aws_calls() as log:
            answer = driver.reply(case_id, "reply-1")
    _expect(answer["channel"] == "sms", f"the reply went by {answer['channel']}")
    return log


def reply_social(driver: Driver) -> AwsCallLog:
    from infra.local.seed import OTHER_AGENCY

    notify_hooks.SocialOutbox.attach()
    number = OTHER_AGENCY["whatsapp_phone_number_id"]
    driver.social("wamid.bench-1", "Hay una fuga de agua en mi calle", phone_number_id=number)
    case_id = only_case()
    driver.reply(case_id, "reply-0", agency_id="water")
    with count_aws_calls() as log:
        answer = driver.reply(case_id, "reply-1", agency_id="water")
    _expect(answer["channel"] == "whatsapp", f"the reply went by {answer['channel']}")
    return log


def reply_messenger(driver: Driver) -> AwsCallLog:
    with driver.graph():
        driver.messenger("m_bench-1", "Hay una fuga de agua en mi calle")
        case_id = only_case()
        driver.reply(case_id, "reply-0")
        with count_aws_calls() as log:
            answer = driver.reply(case_id, "reply-1")
    _expect(answer["channel"] == "messenger", f"the reply went by {answer['channel']}")
    return log


def reply_email(driver: Driver) -> AwsCallLog:
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress=driver.agency["email_address"])
    driver.email("ses-bench-1", "<bench-1@example.net>")
    case_id = only_case()
    driver.reply(case_id, "reply-0")
    with count_aws_calls() as log:
        answer = driver.reply(case_id, "reply-1")
    _expect(answer["channel"] == "email", f"the reply went by {answer['channel']}")
    return log


def reply_chat(driver: Driver) -> AwsCallLog:
    session = driver.open_chat()
    driver.chat(session, "Quiero reportar un bache", "m-1")
    case_id = only_case()
    driver.reply(case_id, "reply-0")
    with count_aws_calls() as log:
        answer = driver.reply(case_id, "reply-1")
    _expect(answer["channel"] == "chat", f"the reply went by {answer['channel']}")
    return log


def stream_scenario(run: Callable[[Any, dict], AwsCallLog]) -> Callable[[Driver], AwsCallLog]:
    """Adapt a scenario of tests/support_streams.py, which takes the client and agency."""

    def scenario(driver: Driver) -> AwsCallLog:
        return run(driver.client, driver.agency)

    return scenario


def phone_report(driver: Driver) -> AwsCallLog:
    return streams.phone_report(driver.client, driver.agency, driver.headers(role="supervisor"))


def only_citizen() -> str:
    from tests import support

    (profile,) = support.items_of_kind("CITIZEN#", "PROFILE")
    return profile["citizen_id"]


@dataclass(frozen=True)
class Scenario:
    handler: str
    description: str
    run: Callable[[Driver], AwsCallLog]


SMS = "inbound_sms"
CHAT_SESSIONS = "POST /chat/sessions"
CHAT_MESSAGES = "POST /chat/sessions/{id}/messages"
CONTACT_FLOW = "connect_contact_flow"
WHATSAPP = "POST /webhooks/whatsapp"
SOCIAL = "inbound_whatsapp_social"
MESSENGER = "POST /webhooks/messenger"
EMAIL = "inbound_email"
REPLIES = "POST /cases/{id}/replies"
CONTACT_EVENTS = "connect_contact_events"
CONTACT_RECORDS = "connect_contact_records"
IVR_CHOICE = "record_ivr_choice"
PHONE_REPORT = "GET /reports/agencies/{id}/phone"

# "Cold" is the first event of a Lambda container, whose agency cache is empty.
# "Warm" means an earlier event of the same function filled that cache.
SCENARIOS = (
    Scenario(SMS, "unknown sender, cold (opens a case)", sms_unknown_cold),
    Scenario(SMS, "unknown sender, warm (opens a case)", sms_unknown_warm),
    Scenario(SMS, "known citizen with an open case, warm", sms_known),
    Scenario(SMS, "known citizen quoting their case reference, warm", sms_known_quoting),
    Scenario(SMS, "duplicate delivery of a recorded SMS, warm", sms_duplicate),
    Scenario(CHAT_SESSIONS, "open a session, cold", chat_open),
    Scenario(CHAT_MESSAGES, "first message of a session (opens a case)", chat_first_message),
    Scenario(CHAT_MESSAGES, "message in a session with a case", chat_message),
    Scenario(CHAT_MESSAGES, "repeated idempotency key", chat_duplicate),
    Scenario(CONTACT_FLOW, "identify, known caller, cold", identify_known_cold),
    Scenario(CONTACT_FLOW, "identify, known caller, warm", identify_known),
    Scenario(CONTACT_FLOW, "identify, unknown caller, warm", identify_unknown),
    Scenario(
        CONTACT_FLOW, "case_status after identify in the same call", case_status_after_identify
    ),
    Scenario(CONTACT_FLOW, "case_status as a call's first action, warm", case_status_first),
    Scenario(
        CONTACT_FLOW, "request_callback after identify, known caller", callback_after_identify
    ),
    Scenario(CONTACT_FLOW, "request_callback as a call's first action, warm", callback_first),
    Scenario(CONTACT_FLOW, "request_callback repeated by Connect", callback_repeated),
    Scenario(
        CONTACT_FLOW,
        "send_link after identify, unknown caller (chat link)",
        link_unknown_after_identify,
    ),
    Scenario(
        CONTACT_FLOW,
        "send_link after identify, known caller (case summary)",
        summary_known_after_identify,
    ),
    Scenario(CONTACT_FLOW, "send_link repeated by Connect", link_repeated),
    Scenario(WHATSAPP, "known citizen with an open case, warm", whatsapp_known),
    Scenario(WHATSAPP, "known citizen sending wa_id and user_id, warm", whatsapp_both_ids),
    Scenario(WHATSAPP, "duplicate delivery of a recorded message, warm", whatsapp_duplicate),
    Scenario(WHATSAPP, "status of a sent message, warm", whatsapp_status),
    Scenario(
        WHATSAPP,
        f"{LARGE_SENDERS * LARGE_PER_SENDER} messages in one delivery from {LARGE_SENDERS} "
        "citizens with open cases, warm",
        whatsapp_large,
    ),
    Scenario(WHATSAPP, "the same delivery of 300 messages again, warm", whatsapp_large_redelivered),
    Scenario(SOCIAL, "known citizen with an open case, warm", social_known),
    Scenario(MESSENGER, "known citizen with an open case, warm", messenger_known),
    Scenario(EMAIL, "known sender with an open case, warm", email_known),
    Scenario(EMAIL, "reply citing a recorded Message-ID, warm", email_reply),
    Scenario(EMAIL, "spam verdict FAIL (quarantined), warm", email_quarantined),
    Scenario(REPLIES, "SMS case, warm", reply_sms),
    Scenario(REPLIES, "SMS case, repeated idempotency key", reply_sms_duplicate),
    Scenario(REPLIES, "WhatsApp case, Cloud API, inside the window, warm", reply_whatsapp),
    Scenario(REPLIES, "WhatsApp case, End User Messaging Social, warm", reply_social),
    Scenario(REPLIES, "WhatsApp case, opted out, falls back to SMS", reply_whatsapp_opted_out),
    Scenario(REPLIES, "Messenger case, inside the window, warm", reply_messenger),
    Scenario(REPLIES, "email case, warm", reply_email),
    Scenario(REPLIES, "web chat case, warm", reply_chat),
    Scenario(
        appointments.BOOK_FORM, "web form, new provisional profile, warm", appointments.book_form
    ),
    Scenario(appointments.BOOK_CHAT, "chat session, warm", appointments.book_chat),
    Scenario(
        CONTACT_EVENTS,
        "event of a call identify recorded, warm",
        stream_scenario(streams.event_of_recorded_call),
    ),
    Scenario(CONTACT_EVENTS, "repeated event, warm", stream_scenario(streams.repeated_event)),
    Scenario(
        CONTACT_EVENTS,
        "known caller's event before identify, warm",
        stream_scenario(streams.event_before_identify),
    ),
    Scenario(
        CONTACT_RECORDS,
        "first record of a recorded call, warm",
        stream_scenario(streams.first_record),
    ),
    Scenario(
        CONTACT_RECORDS,
        "re-sent record, later LastUpdateTimestamp, warm",
        stream_scenario(streams.resent_record),
    ),
    Scenario(
        CONTACT_RECORDS,
        "older record after the newer one, warm",
        stream_scenario(streams.older_record),
    ),
    Scenario(IVR_CHOICE, "deflected caller, agency cached", stream_scenario(streams.ivr_choice)),
    Scenario(PHONE_REPORT, "one week, warm", phone_report),
)


# Above this many calls, the table counts each kind of call instead of listing them.
MAX_LISTED_CALLS = 20


def describe_operations(log: AwsCallLog) -> str:
    """Return the calls in order, each failed one with its error code in brackets.

    A log of more than MAX_LISTED_CALLS calls lists each kind of call once with its
    count, in the order of first use. The items of a large delivery run on several
    threads, so their calls interleave differently on every run.
    """
    names = []
    for call in log.calls:
        name = call.operation if call.service == "dynamodb" else f"{call.service}:{call.operation}"
        if call.error is not None:
            name += f" ({call.error})"
        names.append(name)
    if len(names) <= MAX_LISTED_CALLS:
        return ", ".join(names)
    counts = Counter(names)
    return ", ".join(f"{name} ×{count}" for name, count in counts.items())


def markdown_table(rows: list[tuple[Scenario, AwsCallLog]]) -> str:
    lines = [
        "| handler | scenario | DynamoDB reads | DynamoDB writes | items written "
        "| other AWS calls | calls in order |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for scenario, log in rows:
        lines.append(
            f"| `{scenario.handler}` | {scenario.description} | {log.dynamodb_reads} "
            f"| {log.dynamodb_writes} | {log.items_written} | {len(log.other_calls)} "
            f"| {describe_operations(log)} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class WorkflowRun:
    """The cost of one workflow execution: Step Functions and SQS use, and what it sent."""

    status: str
    state_transitions: int
    task_messages: int
    staff_alerts: int
    citizen_notices: int


# Seconds of the complaint deadline in the workflow scenarios, on the wall clock, because
# moto's Wait states really sleep: reminder at 2 s, due at 4 s, agency head at 6 s.
FAST_COMPLAINTS = {
    "complaint": {
        "response": {"seconds": 4},
        "reminder_before": {"seconds": 2},
        "head_after": {"seconds": 2},
        "label": {"es": "Queja"},
    }
}


def complaint_resolved_before_due(driver: Driver) -> WorkflowRun:
    """File a complaint, let the agent reminder go out, then resolve the case before it is due."""
    case_id, arn = _file_complaint(driver)
    _run_tasks(driver, until=lambda: _workflow_steps(case_id) >= 1)
    driver.change_case(case_id, {"version": 2, "status": "resolved"})
    return _workflow_run(driver, arn)


def complaint_escalated_twice(driver: Driver) -> WorkflowRun:
    """File a complaint and leave it: agent reminder, supervisor, then agency head."""
    _, arn = _file_complaint(driver)
    _run_tasks(driver, until=lambda: _execution_status(arn) != "RUNNING")
    return _workflow_run(driver, arn)


def _file_complaint(driver: Driver) -> tuple[str, str]:
    from tests import support, support_notify

    support_notify.set_agency("demo", case_types=FAST_COMPLAINTS)
    driver.sms(CITIZEN_PHONE, "Quiero poner una queja por la fuga", "sms-1")
    case_id = only_case()
    driver.sent_sms.clear()
    changed = driver.change_case(case_id, {"version": 1, "case_type": "complaint"})
    _expect(changed["deadline"]["status"] == "running", "the complaint got no running deadline")
    (run,) = support.query_items(f"CASE#{case_id}", "WORKFLOW#complaint_deadline#")
    return case_id, run["execution_arn"]


def _workflow_steps(case_id: str) -> int:
    from tests import support

    case = support.case_item(case_id)
    contacts = support.timeline(case["citizen_id"])
    return sum(1 for contact in contacts if contact.get("workflow_step") == "agent_reminded")


def _run_tasks(driver: Driver, until: Callable[[], bool]) -> None:
    from tests.support_workflows import run_workflow_tasks

    run_workflow_tasks(driver.client, until=until, timeout=30)


def _execution_status(arn: str) -> str:
    from tests.support_workflows import execution_status

    return execution_status(arn)


def _workflow_run(driver: Driver, arn: str) -> WorkflowRun:
    from tests.support_workflows import (
        execution_history,
        state_transitions,
        task_messages,
        wait_for_execution,
    )

    status = wait_for_execution(arn)["status"]
    history = execution_history(arn)
    alerts = sum(
        1
        for event in history
        if event["type"] == "TaskScheduled"
        and event.get("taskScheduledEventDetails", {}).get("resourceType") == "sns"
    )
    return WorkflowRun(
        status=status,
        state_transitions=state_transitions(arn),
        task_messages=task_messages(arn),
        staff_alerts=alerts,
        citizen_notices=len(driver.sent_sms),
    )


# Satisfaction survey runs, from the resolution of an SMS case to the execution's end.
SURVEY_ANSWER_SECONDS = 20


def survey_answered(driver: Driver) -> WorkflowRun:
    """Resolve an SMS case and rate it 4 by SMS."""
    return _survey_answered(driver, "4")


def survey_low_rating(driver: Driver) -> WorkflowRun:
    """Resolve an SMS case and rate it 2, which opens a recovery case and alerts staff."""
    return _survey_answered(driver, "2")


def survey_unanswered(driver: Driver) -> WorkflowRun:
    """Resolve an SMS case and let the answer window close."""

    case_id = _survey_case(driver, answer_seconds=1)
    sent_before = len(driver.sent_sms)
    arn = _resolve(driver, case_id)
    _run_tasks(driver, until=lambda: _execution_status(arn) != "RUNNING")
    return _survey_run(driver, arn, sent_before)


def _survey_answered(driver: Driver, rating: str) -> WorkflowRun:
    case_id = _survey_case(driver, answer_seconds=SURVEY_ANSWER_SECONDS)
    sent_before = len(driver.sent_sms)
    arn = _resolve(driver, case_id)
    _run_tasks(driver, until=lambda: _survey_waiting(case_id))
    driver.sms(CITIZEN_PHONE, rating, "sms-answer-1")
    _run_tasks(driver, until=lambda: _execution_status(arn) != "RUNNING")
    return _survey_run(driver, arn, sent_before)


def _survey_run(driver: Driver, arn: str, sent_before: int) -> WorkflowRun:
    """Count the run, with the SMS sent since the resolution only.

    The stub numbers SMS message ids by the length of `driver.sent_sms`, so the list is
    not cleared: a repeated id would fail the outbound pointer's condition.
    """
    run = _workflow_run(driver, arn)
    return replace(run, citizen_notices=len(driver.sent_sms) - sent_before)


def _survey_case(driver: Driver, answer_seconds: int) -> str:
    """Open a case by SMS, with the demo agency asking at once and outside no quiet hours."""
    from tests import support_notify

    support_notify.set_agency(
        "demo",
        survey_delay_seconds=0,
        survey_answer_seconds=answer_seconds,
        calendar={"quiet_hours": None},
    )
    driver.sms(CITIZEN_PHONE, "Hay una fuga de agua en mi calle", "sms-1")
    return only_case()


def _resolve(driver: Driver, case_id: str) -> str:
    """Resolve the case through PATCH /cases/{id}; return the survey the hook started."""
    from tests import support

    driver.change_case(case_id, {"version": 1, "status": "resolved"})
    run = support.get_item(f"CASE#{case_id}", "WORKFLOW#satisfaction_survey#1")
    _expect(run is not None, "the resolved case got no survey")
    return run["execution_arn"]


def _survey_waiting(case_id: str) -> bool:
    from tests import support

    citizen_id = support.case_item(case_id)["citizen_id"]
    waits = support.query_items(f"CITIZEN#{citizen_id}", "WAIT#")
    return any(wait["status"] == "waiting" for wait in waits)


WORKFLOW_SCENARIOS = (
    (
        "complaint resolved after the agent reminder, before its due time",
        complaint_resolved_before_due,
    ),
    ("complaint escalated twice: reminder, supervisor, agency head", complaint_escalated_twice),
    ("satisfaction survey answered with 4 by SMS", survey_answered),
    ("satisfaction survey answered with 2: recovery case opened", survey_low_rating),
    ("satisfaction survey unanswered: the answer window closes", survey_unanswered),
)


def workflow_table(rows: list[tuple[str, WorkflowRun]]) -> str:
    lines = [
        "| workflow run | ends | state transitions | task queue messages "
        "| staff alerts (SNS) | SMS to the citizen |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for description, run in rows:
        lines.append(
            f"| {description} | {run.status} | {run.state_transitions} | {run.task_messages} "
            f"| {run.staff_alerts} | {run.citizen_notices} |"
        )
    return "\n".join(lines)


def measure_workflows() -> list[tuple[str, WorkflowRun]]:
    import pytest

    from tests.support import serialize_moto_requests

    rows = []
    for description, run in WORKFLOW_SCENARIOS:
        # moto runs each execution in a thread of its own, and is not thread-safe.
        with pytest.MonkeyPatch.context() as monkeypatch, fresh_stack() as driver:
            serialize_moto_requests(monkeypatch)
            rows.append((description, run(driver)))
    return rows


def main() -> None:
    if sys.argv[1:] == ["workflows"]:
        print(workflow_table(measure_workflows()))
        return
    rows = []
    for scenario in SCENARIOS:
        with fresh_stack() as driver:
            log = scenario.run(driver)
        _expect(
            log.attempt_count() == log.call_count(),
            f"{scenario.description}: botocore retried a DynamoDB call",
        )
        rows.append((scenario, log))
    print(markdown_table(rows))
    runs = []
    for run_scenario in appointments.RUN_SCENARIOS:
        with fresh_stack() as driver:
            runs.append((run_scenario, run_scenario.run(driver)))
    print()
    print(appointments.runs_table(runs))
    print()
    print(workflow_table(measure_workflows()))


if __name__ == "__main__":
    main()
