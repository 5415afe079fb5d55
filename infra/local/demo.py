"""`python -m infra.local.demo` (what `make demo` runs): one citizen's journey on three channels.

It needs the local stack (`make run`) running, and reaches it only through the doors a
real deployment has: the HTTP API, SNS (through moto) and the Lambda Invoke API. A
citizen opens a web chat and so a case, replies by SMS quoting the case reference, then
calls, is greeted by name and hears the case status. The demo then prints the
citizen's timeline, which holds all three channels, and the outbox.
"""

import json
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.journey.references import format_reference
from infra.local.config import (
    APP_PORT,
    INBOUND_SMS_TOPIC,
    TABLE_NAME,
    LocalConfig,
    LocalConfigError,
    client_options,
    load_config,
    topic_arn,
)
from infra.local.seed import DEMO_AGENCY

# Seconds to wait for SNS to deliver the SMS to its handler and the handler to record it.
DELIVERY_TIMEOUT_SECONDS = 10
POLL_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 10
CHANNELS = ("chat", "sms", "voice")
BODY_LENGTH = 60

_AWS_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"total_max_attempts": 1})


class DemoError(RuntimeError):
    """A step of the journey failed, or the stack is not running."""


@dataclass(frozen=True)
class Citizen:
    name: str
    # The number as typed into the chat, with the "1" older Mexican mobiles carried.
    typed_phone: str
    # The same line in E.164, as the SMS carrier and the phone network present it.
    phone: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class Stack:
    """Clients of the running local stack."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.http = requests.Session()
        options = {**client_options(config), "config": _AWS_CONFIG}
        self.sns = boto3.client("sns", **options)
        self.table = boto3.resource("dynamodb", **options).Table(TABLE_NAME)
        self.lambda_ = boto3.client("lambda", **{**options, "endpoint_url": config.lambda_url})

    def post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        url = f"{self.config.app_url}{path}"
        response = self.http.post(url, json=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)
        if not response.ok:
            raise DemoError(f"POST {path} failed with {response.status_code}: {response.text}")
        return response.json()


def main() -> int:
    try:
        config = load_config()
    except LocalConfigError as error:
        print(f"invalid configuration: {error}", file=sys.stderr)
        return 2
    try:
        stack = Stack(config)
        _check_running(stack)
        run_journey(stack, new_citizen())
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError, requests.RequestException) as error:
        print(f"demo failed: a request to the local stack failed: {error}", file=sys.stderr)
        return 1
    return 0


def new_citizen() -> Citizen:
    """Return a citizen with a new Mexico City mobile number, so every run starts afresh."""
    subscriber = f"{secrets.randbelow(10**8):08d}"
    typed = f"+52 1 55 {subscriber[:4]} {subscriber[4:]}"
    return Citizen(name="María López", typed_phone=typed, phone=f"+5255{subscriber}")


def _check_running(stack: Stack) -> None:
    url = f"{stack.config.app_url}/health"
    try:
        stack.http.get(url, timeout=3).raise_for_status()
    except requests.RequestException as error:
        raise DemoError(
            f"the local stack does not respond at {url} ({type(error).__name__}). Start it "
            f"with `make run` in another terminal, or set {APP_PORT.variable} and the other "
            "port variables to the ports it uses"
        ) from error


def run_journey(stack: Stack, citizen: Citizen) -> None:
    """Replay the journey, print what each channel returned, then the timeline and outbox."""
    print(f"Ventanilla demo: one citizen on three channels ({stack.config.app_url})\n")
    session_id, reference = chat(stack, citizen)
    citizen_id = _citizen_of_session(stack, session_id)
    send_sms(stack, citizen, citizen_id, reference)
    greeting, status = call(stack, citizen, reference)

    contacts = read_timeline(stack.table, citizen_id)
    print(f"\nTimeline of citizen {citizen_id} (newest first)")
    for contact in contacts:
        print(f"  {timeline_line(contact)}")
    print_outbox(stack, citizen)
    _check_outcome(citizen, greeting, status, contacts)


def chat(stack: Stack, citizen: Citizen) -> tuple[str, str]:
    """Open a chat session claiming the citizen's phone and post one message."""
    print(
        f"1. web chat    {citizen.name} opens a chat and types her mobile as {citizen.typed_phone}"
    )
    body = {
        "agency_id": DEMO_AGENCY["agency_id"],
        "name": citizen.name,
        "phone": citizen.typed_phone,
    }
    session = stack.post("/chat/sessions", body)
    text = "Hola, hay una fuga de agua frente a mi casa."
    message = {"text": text, "idempotency_key": f"demo-{uuid.uuid4()}"}
    headers = {"X-Session-Token": session["session_token"]}
    answer = stack.post(f"/chat/sessions/{session['session_id']}/messages", message, headers)
    reference = answer["case_reference"]
    print(f"               message {text!r}\n               case {reference} opened")
    return session["session_id"], reference


def send_sms(stack: Stack, citizen: Citizen, citizen_id: str, reference: str) -> None:
    """Publish an SMS quoting the reference, as End User Messaging SMS would, and wait for it."""
    inbound_id = str(uuid.uuid4())
    text = f"Sigue la fuga. Mi caso es {reference}"
    sms = {
        "originationNumber": citizen.phone,
        "destinationNumber": DEMO_AGENCY["sms_number"],
        "messageBody": text,
        "inboundMessageId": inbound_id,
    }
    print(f"2. SMS         {citizen.phone} -> {DEMO_AGENCY['sms_number']}: {text!r}")
    started = time.monotonic()
    stack.sns.publish(TopicArn=topic_arn(INBOUND_SMS_TOPIC), Message=json.dumps(sms))
    wait_for_contact(stack.table, citizen_id, inbound_id)
    print(f"               on the timeline after {time.monotonic() - started:.1f} s")


def call(stack: Stack, citizen: Citizen, reference: str) -> tuple[dict, dict]:
    """Call the contact flow function twice in one call: identify, then case_status."""
    contact_id = str(uuid.uuid4())
    print(f"3. phone call  {citizen.phone} calls the agency")
    greeting = invoke_contact_flow(stack, citizen.phone, contact_id, {"action": "identify"})
    print(f"               identify: {_flat(greeting, 'known_caller', 'first_name', 'open_cases')}")
    print(f"               prompt {greeting.get('prompt')!r}")
    keyed = reference.replace("-", "")
    parameters = {"action": "case_status", "case_reference": keyed}
    status = invoke_contact_flow(stack, citizen.phone, contact_id, parameters)
    print(f"               case_status, keyed {keyed}: {_flat(status, 'case_status')}")
    print(f"               prompt {status.get('prompt')!r}")
    return greeting, status


def invoke_contact_flow(
    stack: Stack, phone: str, contact_id: str, parameters: dict[str, str]
) -> dict[str, str]:
    """Invoke connect_contact_flow with the event a Connect flow sends; return its result."""
    event = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": {},
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "PreviousContactId": contact_id,
                "CustomerEndpoint": {"Address": phone, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {
                    "Address": DEMO_AGENCY["sms_number"],
                    "Type": "TELEPHONE_NUMBER",
                },
                "InitiationMethod": "INBOUND",
                "InstanceARN": DEMO_AGENCY["connect_instance_arn"],
                "LanguageCode": "es-MX",
                "Queue": None,
            },
            "Parameters": parameters,
        },
    }
    response = stack.lambda_.invoke(FunctionName="connect_contact_flow", Payload=json.dumps(event))
    payload = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise DemoError(f"connect_contact_flow failed: {payload}")
    return payload


def _citizen_of_session(stack: Stack, session_id: str) -> str:
    item = stack.table.get_item(Key={"pk": f"CHAT#{session_id}", "sk": "SESSION"}).get("Item")
    if item is None:
        raise DemoError(f"chat session {session_id} is not in table {TABLE_NAME}")
    return str(item["citizen_id"])


def read_timeline(table: Any, citizen_id: str) -> list[dict[str, Any]]:
    """Return a citizen's contacts, newest first, straight from the table.

    TODO: read GET /citizens/{id}/timeline once the agent API serves it.
    """
    condition = Key("pk").eq(f"CITIZEN#{citizen_id}") & Key("sk").begins_with("CONTACT#")
    response = table.query(KeyConditionExpression=condition, ScanIndexForward=False)
    return response["Items"]


def wait_for_contact(table: Any, citizen_id: str, external_id: str) -> dict[str, Any]:
    """Poll the timeline until a contact with `external_id` appears; raises DemoError."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for contact in read_timeline(table, citizen_id):
            if contact.get("external_id") == external_id:
                return contact
        time.sleep(POLL_SECONDS)
    raise DemoError(
        f"the SMS was not on the timeline within {DELIVERY_TIMEOUT_SECONDS} s; "
        "the stack's console shows whether inbound_sms failed"
    )


def timeline_line(contact: dict[str, Any]) -> str:
    """Format one contact: time, channel, direction, kind, case reference and content."""
    reference = contact.get("case_reference")
    formatted_reference = format_reference(reference) if reference else "-"
    if contact.get("actions"):
        content = "actions: " + ", ".join(sorted(contact["actions"]))
    else:
        content = repr(_shorten(contact.get("body") or ""))
    return (
        f"{contact['occurred_at']}  {contact['channel']:<6} {contact['direction']:<9} "
        f"{contact['kind']:<8} {formatted_reference}  {content}"
    )


def print_outbox(stack: Stack, citizen: Citizen) -> None:
    url = f"{stack.config.moto_url}/_outbox"
    messages = stack.http.get(url, timeout=HTTP_TIMEOUT_SECONDS).json()["messages"]
    mine = [message for message in messages if message["destination"] == citizen.phone]
    print(f"\nOutbox, what the stack sent in place of a carrier, to {citizen.phone}")
    if not mine:
        print("  nothing: the SMS quoted an existing case, so no case notice was sent")
    for message in mine:
        print(
            f"  {message['sent_at']}  {message['channel']:<6} {message['origination']} -> "
            f"{message['destination']}  {_shorten(message['body'] or '')!r}"
        )


def _check_outcome(citizen: Citizen, greeting: dict, status: dict, contacts: list[dict]) -> None:
    channels = sorted({contact["channel"] for contact in contacts})
    print(f"\nChannels on one timeline: {', '.join(channels)}")
    if greeting.get("known_caller") != "true" or greeting.get("first_name") != citizen.first_name:
        raise DemoError(f"the caller was not recognised by name: {greeting}")
    if status.get("case_status") != "open":
        raise DemoError(f"case_status did not report an open case: {status}")
    missing = [channel for channel in CHANNELS if channel not in channels]
    if missing:
        raise DemoError(f"the timeline lacks the channels {', '.join(missing)}")


def _flat(answer: dict, *keys: str) -> str:
    return ", ".join(f"{key}={answer.get(key)}" for key in keys)


def _shorten(text: str) -> str:
    return text if len(text) <= BODY_LENGTH else text[: BODY_LENGTH - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
