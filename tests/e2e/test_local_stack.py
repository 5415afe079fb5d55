"""End-to-end tests of `python -m infra.local`, run as a subprocess on free ports.

The stack is driven only from outside, as a developer would drive it: HTTP to the app,
SNS publishes to moto, and boto3's Lambda client against the Invoke API. The in-process
moto fixtures of tests/conftest.py are not used, and the subprocess gets an environment
of its own, free of the variables conftest.py sets for in-process tests.
"""

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.local.config import (
    DEAD_LETTER_QUEUE,
    INBOUND_SMS_TOPIC,
    MOTO_PORT,
    PORT_SETTINGS,
    TABLE_NAME,
    LocalConfig,
    client_options,
    load_config,
    topic_arn,
)
from infra.local.seed import DEMO_AGENCY

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20
# SNS delivery plus, for a failing event, two retries 1 s and 2 s apart.
DELIVERY_TIMEOUT_SECONDS = 20
DEMO_TIMEOUT_SECONDS = 60
AWS_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"total_max_attempts": 1})


@dataclass
class RunningStack:
    process: subprocess.Popen
    env: dict[str, str]
    config: LocalConfig
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        options = {**client_options(self.config), "config": AWS_CONFIG}
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        return boto3.client(service, **options)

    def table(self) -> Any:
        options = {**client_options(self.config), "config": AWS_CONFIG}
        return boto3.resource("dynamodb", **options).Table(TABLE_NAME)

    def wait_for_output(self, text: str, timeout: float = DELIVERY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            time.sleep(0.1)
        pytest.fail(f"{text!r} not printed within {timeout} s; output:\n{self.output()[-4000:]}")

    def outbox_to(self, phone: str) -> list[dict]:
        response = requests.get(f"{self.config.moto_url}/_outbox", timeout=5)
        response.raise_for_status()
        return [item for item in response.json()["messages"] if item["destination"] == phone]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stack_env(local_dir: Path, ports: dict[str, int] | None = None) -> dict[str, str]:
    """Return this process's environment without AWS or Ventanilla settings, plus ports."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "VENTANILLA_"))
    }
    ports = ports or {setting.variable: _free_port() for setting in PORT_SETTINGS}
    env.update({name: str(port) for name, port in ports.items()})
    env["VENTANILLA_LOCAL_DIR"] = str(local_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _launch(local_dir: Path, env: dict[str, str]) -> RunningStack:
    log_path = local_dir / "console.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningStack(process, env, load_config(env), log_path)


def _wait_until_healthy(stack: RunningStack) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"stack exited with {stack.process.returncode}:\n{stack.output()}")
        try:
            if requests.get(f"{stack.config.app_url}/health", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            # Ports are bound before the servers start, so early requests wait or fail.
            pass
        time.sleep(0.2)
    pytest.fail(f"stack not healthy within {STARTUP_TIMEOUT_SECONDS} s:\n{stack.output()}")


def _stop(stack: RunningStack) -> None:
    if stack.process.poll() is None:
        stack.process.kill()
        stack.process.wait(STOP_TIMEOUT_SECONDS)


@pytest.fixture
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Start stacks on free ports; every one still running at teardown is killed."""
    started: list[RunningStack] = []

    def start() -> RunningStack:
        local_dir = tmp_path_factory.mktemp("local-stack")
        stack = _launch(local_dir, _stack_env(local_dir))
        started.append(stack)
        _wait_until_healthy(stack)
        return stack

    try:
        yield start
    finally:
        for stack in started:
            _stop(stack)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack shared by the tests that only send it traffic."""
    local_dir = tmp_path_factory.mktemp("local-stack")
    running = _launch(local_dir, _stack_env(local_dir))
    try:
        _wait_until_healthy(running)
        yield running
    finally:
        _stop(running)


def _new_phone() -> str:
    """Return a new Mexico City mobile in E.164, so tests never share a citizen."""
    return f"+5255{uuid.uuid4().int % 10**8:08d}"


def _sms(phone: str, text: str, inbound_id: str | None = None) -> str:
    return json.dumps(
        {
            "originationNumber": phone,
            "destinationNumber": DEMO_AGENCY["sms_number"],
            "messageBody": text,
            "inboundMessageId": inbound_id or str(uuid.uuid4()),
        }
    )


def _publish(stack: RunningStack, message: str) -> str:
    sns = stack.client("sns")
    return sns.publish(TopicArn=topic_arn(INBOUND_SMS_TOPIC), Message=message)["MessageId"]


def _contact_flow_event(phone: str, contact_id: str, parameters: dict[str, str]) -> dict:
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": {},
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "CustomerEndpoint": {"Address": phone, "Type": "TELEPHONE_NUMBER"},
                "InitiationMethod": "INBOUND",
                "InstanceARN": DEMO_AGENCY["connect_instance_arn"],
            },
            "Parameters": parameters,
        },
    }


def _invoke(stack: RunningStack, function_name: str, payload: Any) -> tuple[dict, Any]:
    client = stack.client("lambda", endpoint_url=stack.config.lambda_url)
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    response = client.invoke(FunctionName=function_name, Payload=body)
    return response, json.loads(response["Payload"].read())


def _open_chat(stack: RunningStack, name: str, phone: str) -> tuple[str, str]:
    """Open a chat claiming `phone` and post a message; return the session and reference."""
    body = {"agency_id": DEMO_AGENCY["agency_id"], "name": name, "phone": phone}
    opened = requests.post(f"{stack.config.app_url}/chat/sessions", json=body, timeout=10)
    assert opened.status_code == 201, opened.text
    session = opened.json()
    message = {"text": "Se cayó un árbol en la banqueta", "idempotency_key": "first"}
    headers = {"X-Session-Token": session["session_token"]}
    url = f"{stack.config.app_url}/chat/sessions/{session['session_id']}/messages"
    posted = requests.post(url, json=message, headers=headers, timeout=10)
    assert posted.status_code == 201, posted.text
    assert posted.json()["case_opened"] is True
    return session["session_id"], posted.json()["case_reference"]


def _contacts(stack: RunningStack, citizen_id: str) -> list[dict]:
    condition = Key("pk").eq(f"CITIZEN#{citizen_id}") & Key("sk").begins_with("CONTACT#")
    return stack.table().query(KeyConditionExpression=condition)["Items"]


def test_journey_recognises_caller_on_every_channel(stack):
    phone = _new_phone()
    session_id, reference = _open_chat(stack, "Ana Torres", phone)
    message_id = _publish(stack, _sms(phone, f"Sigue ahí el árbol, caso {reference}"))
    stack.wait_for_output(f"SNS message {message_id} handled")

    contact_id = str(uuid.uuid4())
    identify = _contact_flow_event(phone, contact_id, {"action": "identify"})
    response, greeting = _invoke(stack, "connect_contact_flow", identify)
    keyed = reference.replace("-", "")
    status_event = _contact_flow_event(
        phone, contact_id, {"action": "case_status", "case_reference": keyed}
    )
    _, status = _invoke(stack, "connect_contact_flow", status_event)

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert greeting["known_caller"] == "true"
    assert greeting["first_name"] == "Ana"
    assert status["result"] == "ok"
    assert status["case_status"] == "open"
    assert status["latest_case_reference"] == reference
    session = stack.table().get_item(Key={"pk": f"CHAT#{session_id}", "sk": "SESSION"})["Item"]
    channels = {contact["channel"] for contact in _contacts(stack, session["citizen_id"])}
    assert channels == {"chat", "sms", "voice"}
    # The SMS quoted the case the chat opened, so no new case and no notice.
    assert stack.outbox_to(phone) == []


def test_sms_redelivery_recorded_once(stack):
    phone = _new_phone()
    message = _sms(phone, "Hola, ¿dónde pago el predial?")
    first = _publish(stack, message)
    second = _publish(stack, message)
    stack.wait_for_output(f"SNS message {first} handled")
    stack.wait_for_output(f"SNS message {second} handled")

    notices = stack.outbox_to(phone)
    assert len(notices) == 1
    assert notices[0]["channel"] == "sms"
    assert notices[0]["operation"] == "SendTextMessage"
    assert notices[0]["origination"] == DEMO_AGENCY["sms_number"]
    assert "registrado" in notices[0]["body"]
    link_key = {"pk": f"IDENTITY#phone#{phone}", "sk": "LINK"}
    citizen_id = stack.table().get_item(Key=link_key)["Item"]["citizen_id"]
    inbound = [
        contact
        for contact in _contacts(stack, citizen_id)
        if contact["channel"] == "sms" and contact["direction"] == "inbound"
    ]
    assert len(inbound) == 1
    lines = stack.config.outbox_path.read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line)["message_id"] == notices[0]["message_id"] for line in lines)


def test_invoke_api_delivers_contact_event_and_records(stack):
    events_dir = PROJECT_DIR / "tests" / "events"
    contact_event = json.loads((events_dir / "contact_event_initiated.json").read_text())
    contact_id = str(uuid.uuid4())
    contact_event["detail"].update(contactId=contact_id, initialContactId=contact_id)
    contact_event["detail"]["customerEndpoint"]["address"] = _new_phone()
    records = (events_dir / "kinesis_contact_records.json").read_bytes()

    event_response, _ = _invoke(stack, "connect_contact_events", contact_event)
    records_response, outcomes = _invoke(stack, "connect_contact_records", records)

    assert event_response["StatusCode"] == 200
    assert "FunctionError" not in event_response
    assert "FunctionError" not in records_response
    assert outcomes["agent_event"] == 1
    marker = stack.table().get_item(Key={"pk": f"EVENT#voice#{contact_id}", "sk": "EVENT"})
    assert "Item" in marker
    record_key = {"pk": "CTR#5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01", "sk": "RECORD"}
    assert stack.table().get_item(Key=record_key)["Item"]["agency_id"] == "demo"


def test_outbox_answers_whatsapp_and_voice_sends(stack):
    phone = _new_phone()
    whatsapp = stack.client("socialmessaging")
    meta_message = {"messaging_product": "whatsapp", "to": phone, "type": "text"}
    meta_message["text"] = {"body": "Su cita es mañana"}
    sent = whatsapp.send_whatsapp_message(
        originationPhoneNumberId="phone-number-id-demo",
        message=json.dumps(meta_message).encode(),
        metaApiVersion="v20.0",
    )
    connect = stack.client("connect")
    called = connect.start_outbound_voice_contact(
        DestinationPhoneNumber=phone,
        ContactFlowId="flow-demo",
        InstanceId="instance-demo",
        SourcePhoneNumber=DEMO_AGENCY["sms_number"],
    )

    by_channel = {item["channel"]: item for item in stack.outbox_to(phone)}
    assert by_channel["whatsapp"]["message_id"] == sent["messageId"]
    assert by_channel["whatsapp"]["body"] == "Su cita es mañana"
    assert by_channel["voice"]["message_id"] == called["ContactId"]
    assert by_channel["voice"]["details"]["ContactFlowId"] == "flow-demo"


def test_callback_task_lands_in_outbox_once(stack):
    phone = _new_phone()
    contact_id = str(uuid.uuid4())
    event = _contact_flow_event(phone, contact_id, {"action": "request_callback"})

    _, first = _invoke(stack, "connect_contact_flow", event)
    _, second = _invoke(stack, "connect_contact_flow", event)

    assert first["result"] == "ok"
    assert first["callback_scheduled"] == "true"
    assert second == first
    (task,) = stack.outbox_to(phone)
    assert task["operation"] == "StartTaskContact"
    assert task["details"]["PreviousContactId"] == contact_id
    assert task["details"]["ContactFlowId"] == DEMO_AGENCY["connect_callback_flow_id"]


def test_chat_stream_publish_reaches_handler(stack):
    conversation = str(uuid.uuid4())
    document = {
        "AbsoluteTime": "2026-12-04T15:04:05.020Z",
        "Content": "Hola, se fue la luz en mi colonia",
        "ContentType": "text/plain",
        "Id": str(uuid.uuid4()),
        "Type": "MESSAGE",
        "ParticipantRole": "CUSTOMER",
        "InitialContactId": conversation,
        "ContactId": conversation,
    }
    instance_id = DEMO_AGENCY["connect_instance_arn"].rsplit("/", 1)[-1]
    attributes = {
        "InstanceId": {"DataType": "String", "StringValue": instance_id},
        "AccountId": {"DataType": "String", "StringValue": "123456789012"},
    }
    sns = stack.client("sns")
    message_id = sns.publish(
        TopicArn=topic_arn("ventanilla-local-connect-chat-stream"),
        Message=json.dumps(document),
        MessageAttributes=attributes,
    )["MessageId"]
    stack.wait_for_output(f"SNS message {message_id} handled")

    link_key = {"pk": f"IDENTITY#connect_chat#{conversation}", "sk": "LINK"}
    citizen_id = stack.table().get_item(Key=link_key)["Item"]["citizen_id"]
    (message,) = [item for item in _contacts(stack, citizen_id) if item["direction"] == "inbound"]
    assert message["channel"] == "connect_chat"
    assert message["body"] == document["Content"]


def test_messenger_notice_lands_in_graph_outbox(stack):
    psid = str(uuid.uuid4().int)[:16]
    page_id = DEMO_AGENCY["messenger_page_id"]
    event = {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": f"m_{uuid.uuid4().hex}", "text": "Hay un bache en Hidalgo"},
    }
    raw = json.dumps({"object": "page", "entry": [{"id": page_id, "messaging": [event]}]})
    secret = DEMO_AGENCY["messenger_app_secret"].encode()
    signature = "sha256=" + hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()

    response = requests.post(
        f"{stack.config.app_url}/webhooks/messenger",
        data=raw.encode(),
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    (notice,) = stack.outbox_to(psid)
    assert notice["channel"] == "messenger"
    assert notice["operation"] == "GraphAPI"
    assert notice["body"].startswith("Caso ")
    assert notice["details"] == {"messaging_type": "RESPONSE"}


def test_outbox_rejects_whatsapp_message_that_is_not_json(stack):
    whatsapp = stack.client("socialmessaging")
    with pytest.raises(ClientError) as raised:
        whatsapp.send_whatsapp_message(
            originationPhoneNumberId="phone-number-id-demo",
            message=b"not json",
            metaApiVersion="v20.0",
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    "function_name",
    [
        "connect_contact_flow",
        "ventanilla-local-connect_contact_flow",
        "arn:aws:lambda:us-east-1:123456789012:function:connect_contact_flow",
        "arn:aws:lambda:us-east-1:123456789012:function:connect_contact_flow:$LATEST",
        "123456789012:function:ventanilla-local-connect_contact_flow",
    ],
)
def test_invoke_api_accepts_name_forms(stack, function_name):
    event = _contact_flow_event(_new_phone(), str(uuid.uuid4()), {"action": "identify"})
    response, answer = _invoke(stack, function_name, event)
    assert response["StatusCode"] == 200
    assert answer["result"] == "ok"
    assert answer["known_caller"] == "false"


def test_invoke_api_unknown_function_is_not_found(stack):
    with pytest.raises(ClientError) as raised:
        _invoke(stack, "no_such_function", {})
    error = raised.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Message"].startswith("Function not found: arn:aws:lambda:")


def test_invoke_api_other_version_is_not_found(stack):
    with pytest.raises(ClientError) as raised:
        _invoke(stack, "connect_contact_flow:7", {})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_invoke_api_http_route_is_not_a_function(stack):
    with pytest.raises(ClientError) as raised:
        _invoke(stack, "health", {})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_invoke_api_invalid_json_is_rejected(stack):
    url = f"{stack.config.lambda_url}/2015-03-31/functions/connect_contact_flow/invocations"
    response = requests.post(url, data=b"{not json", timeout=10)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert response.json()["Type"] == "User"
    with pytest.raises(ClientError) as raised:
        _invoke(stack, "connect_contact_flow", b"{not json")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_invoke_api_handler_error_is_unhandled(stack):
    # Chalice's SNS handler raises on an event without Records, before the app's code.
    response, payload = _invoke(stack, "inbound_sms", {"not": "an SNS event"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "KeyError"
    assert "stackTrace" not in payload


def test_invoke_api_event_invocation_is_accepted(stack):
    client = stack.client("lambda", endpoint_url=stack.config.lambda_url)
    event = _contact_flow_event(_new_phone(), str(uuid.uuid4()), {"action": "identify"})
    response = client.invoke(
        FunctionName="connect_contact_flow", InvocationType="Event", Payload=json.dumps(event)
    )
    assert response["StatusCode"] == 202
    stack.wait_for_output("connect_contact_flow: asynchronous invocation handled")


def test_failing_sms_reaches_dead_letter_queue(stack):
    message_id = _publish(stack, json.dumps({"messageBody": "no sender"}))
    stack.wait_for_output(f"SNS message {message_id} moved to the dead-letter queue")

    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    records = []
    for _ in range(5):
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        records += [json.loads(item["Body"]) for item in received.get("Messages", [])]
    mine = [
        record
        for record in records
        if record["requestPayload"]["Records"][0]["Sns"]["MessageId"] == message_id
    ]
    assert len(mine) == 1
    assert mine[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert mine[0]["requestContext"]["approximateInvokeCount"] == 3
    assert mine[0]["responsePayload"]["errorType"] == "ValidationError"
    assert f"SNS message {message_id} failed (attempt 3 of 3)" in stack.output()
    record = mine[0]["requestPayload"]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic_arn(INBOUND_SMS_TOPIC) + ":")
    assert record["Sns"]["Type"] == "Notification"
    assert record["Sns"]["Subject"] is None
    assert record["Sns"]["MessageAttributes"] == {}
    assert record["Sns"]["SigningCertUrl"].startswith("https://")


def test_demo_prints_three_channels(stack):
    result = subprocess.run(
        [sys.executable, "-m", "infra.local.demo"],
        cwd=PROJECT_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Channels on one timeline: chat, sms, voice" in result.stdout
    timeline = result.stdout.split("Timeline of citizen", 1)[1]
    for channel in ("chat", "sms", "voice"):
        assert f"  {channel} " in timeline


def test_demo_without_stack_fails_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "infra.local.demo"],
        cwd=PROJECT_DIR,
        env=_stack_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "make run" in result.stderr


def test_port_in_use_fails_at_once(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = _stack_env(tmp_path)
        env[MOTO_PORT.variable] = str(port)
        stack = _launch(tmp_path, env)
        try:
            returncode = stack.process.wait(STARTUP_TIMEOUT_SECONDS)
        finally:
            _stop(stack)
    assert returncode == 1
    assert f"127.0.0.1:{port} is already in use" in stack.output()
    assert MOTO_PORT.variable in stack.output()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stack_stops_cleanly_on_signal(start_stack, signum):
    stack = start_stack()
    stack.process.send_signal(signum)
    returncode = stack.process.wait(STOP_TIMEOUT_SECONDS)

    assert returncode == 0
    assert "stopped" in stack.output()
    for setting in PORT_SETTINGS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the stack itself binds: connections it closed may sit in
            # TIME_WAIT, which blocks a plain bind but not a new listener.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", stack.config.port_of(setting)))
