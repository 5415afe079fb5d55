"""Helpers shared by the functional tests: sample events, chat calls, table reads, outbound SMS.

Everything here drives the product through its public seam (the Chalice test
client's HTTP and Lambda clients) or reads the table the way an operator would.
"""

import copy
import io
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from boto3.dynamodb.conditions import Key
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from chalicelib import aws
from chalicelib.clock import isoformat_z

EVENTS_DIR = Path(__file__).with_name("events")
TABLE_NAME = "ventanilla-test"
SMS_SERVICE = "pinpoint-sms-voice-v2"
SEND_TEXT_EVENT = "before-call.pinpoint-sms-voice-v2.SendTextMessage"

# The citizen of most SMS sample events, in E.164 and as digits without the country code.
CITIZEN_PHONE = "+525541637145"
CITIZEN_NATIONAL = "5541637145"
# A second citizen, for journeys that need two verified numbers.
OTHER_PHONE = "+525598761234"


# Sample events


def load_event(name: str) -> dict:
    """Return a copy of the sample event `tests/events/<name>.json`."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def sms_event(
    name: str,
    *,
    sns_message_id: str | None = None,
    timestamp: str | None = None,
    reference: str | None = None,
    **payload_changes: Any,
) -> dict:
    """Load an SNS event file that carries one SMS and change fields of it.

    `payload_changes` replace keys of the SMS document inside `Sns.Message`,
    such as `messageBody` or `inboundMessageId`. `reference` fills the
    `{reference}` placeholder of a message body.
    """
    event = load_event(name)
    notification = event["Records"][0]["Sns"]
    if sns_message_id is not None:
        notification["MessageId"] = sns_message_id
    if timestamp is not None:
        notification["Timestamp"] = timestamp
    if payload_changes or reference is not None:
        payload = json.loads(notification["Message"])
        payload.update(payload_changes)
        if reference is not None:
            payload["messageBody"] = payload["messageBody"].format(reference=reference)
        notification["Message"] = json.dumps(payload, ensure_ascii=False)
    return event


def generated_sns_event(
    client: Any, message: str | dict, *, sns_message_id: str, subject: str = ""
) -> dict:
    """Build an SNS event with the Chalice test client, giving it its own MessageId."""
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    event = client.events.generate_sns_event(message=text, subject=subject)
    event["Records"][0]["Sns"]["MessageId"] = sns_message_id
    return event


def sms_payload(event: dict) -> dict:
    """Return the SMS document inside the first record of an SNS event."""
    return json.loads(event["Records"][0]["Sns"]["Message"])


def invoke_sms(client: Any, event: dict) -> Any:
    """Deliver an SNS event to the `inbound_sms` function."""
    return client.lambda_.invoke("inbound_sms", copy.deepcopy(event))


# Web chat


@dataclass(frozen=True)
class ChatSession:
    session_id: str
    token: str
    citizen_id: str
    body: dict

    @property
    def headers(self) -> dict:
        return {"Content-Type": "application/json", "X-Session-Token": self.token}


def post_json(client: Any, path: str, body: Any, headers: dict | None = None) -> Any:
    """POST `body` as JSON, or as it is when it is bytes."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(
        path, headers={"Content-Type": "application/json", **(headers or {})}, body=raw
    )


def open_chat(client: Any, agency_id: str = "demo", **fields: Any) -> ChatSession:
    """Open a web chat session and return it, failing the test unless the API returns 201."""
    response = post_json(client, "/chat/sessions", {"agency_id": agency_id, **fields})
    assert response.status_code == 201, response.json_body
    body = response.json_body
    session = chat_session_item(body["session_id"])
    return ChatSession(body["session_id"], body["session_token"], session["citizen_id"], body)


def post_chat(
    client: Any, session: ChatSession, text: str, key: str | None, headers: dict | None = None
) -> Any:
    """Post a chat message, with `key` as the body's idempotency key when given."""
    body: dict[str, Any] = {"text": text}
    if key is not None:
        body["idempotency_key"] = key
    return post_json(
        client,
        f"/chat/sessions/{session.session_id}/messages",
        body,
        headers={"X-Session-Token": session.token, **(headers or {})},
    )


def chat_messages(client: Any, session: ChatSession, **query: Any) -> Any:
    """GET the session's messages with `query` as URL-encoded query parameters.

    Cursors contain `#`, which starts a URL fragment unless it is encoded.
    """
    path = f"/chat/sessions/{session.session_id}/messages"
    if query:
        path = f"{path}?{urlencode(query)}"
    return client.http.get(path, headers={"X-Session-Token": session.token})


# Table reads and writes, the way an operator sees the table


def table() -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE_NAME)


def scan_items() -> list[dict]:
    """Return every item of the table."""
    items: list[dict] = []
    request: dict[str, Any] = {}
    while True:
        page = table().scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_item(pk: str, sk: str) -> dict | None:
    return table().get_item(Key={"pk": pk, "sk": sk}).get("Item")


def query_items(pk: str, sk_prefix: str = "") -> list[dict]:
    """Return the items of one partition whose sort key starts with `sk_prefix`, in order."""
    condition = Key("pk").eq(pk)
    if sk_prefix:
        condition = condition & Key("sk").begins_with(sk_prefix)
    return table().query(KeyConditionExpression=condition)["Items"]


def items_of_kind(pk_prefix: str, sk_prefix: str = "") -> list[dict]:
    """Return every item whose keys start with the given prefixes."""
    return [
        item
        for item in scan_items()
        if item["pk"].startswith(pk_prefix) and item["sk"].startswith(sk_prefix)
    ]


def contacts(direction: str | None = None, channel: str | None = None) -> list[dict]:
    """Return every contact of every citizen, optionally of one direction and channel."""
    return [
        item
        for item in items_of_kind("CITIZEN#", "CONTACT#")
        if (direction is None or item["direction"] == direction)
        and (channel is None or item["channel"] == channel)
    ]


def timeline(citizen_id: str) -> list[dict]:
    """Return a citizen's contacts oldest first, as the sort key orders them."""
    return query_items(f"CITIZEN#{citizen_id}", "CONTACT#")


def phone_link(phone: str) -> dict | None:
    """Return the owner link of a verified phone number."""
    return get_item(f"IDENTITY#phone#{phone}", "LINK")


def profile(citizen_id: str) -> dict | None:
    return get_item(f"CITIZEN#{citizen_id}", "PROFILE")


def case_item(case_id: str) -> dict | None:
    return get_item(f"CASE#{case_id}", "CASE")


def reference_item(reference: str) -> dict | None:
    return get_item(f"REF#{reference}", "CASE")


def chat_session_item(session_id: str) -> dict | None:
    return get_item(f"CHAT#{session_id}", "SESSION")


def case_of_reference(reference: str) -> dict:
    """Return the case behind a reference written with or without its dashes."""
    pointer = reference_item(reference.replace("-", ""))
    assert pointer is not None, f"no REF item for reference {reference}"
    return case_item(pointer["case_id"])


def days_ago(days: float) -> str:
    return isoformat_z(datetime.now(UTC) - timedelta(days=days))


def age_open_case(phone: str, agency_id: str, days: float) -> None:
    """Make the open case of a phone's owner look inactive for `days` days.

    Both copies of the last activity move: the identity link's `open_cases`
    entry, which the hot path reads, and the case item itself.
    """
    link = phone_link(phone)
    stamp = days_ago(days)
    table().update_item(
        Key={"pk": link["pk"], "sk": "LINK"},
        UpdateExpression="SET open_cases.#agency.last_activity_at = :stamp",
        ExpressionAttributeNames={"#agency": agency_id},
        ExpressionAttributeValues={":stamp": stamp},
    )
    case_id = link["open_cases"][agency_id]["case_id"]
    table().update_item(
        Key={"pk": f"CASE#{case_id}", "sk": "CASE"},
        UpdateExpression="SET last_activity_at = :stamp",
        ExpressionAttributeValues={":stamp": stamp},
    )


def set_case_status(case_id: str, status: str) -> None:
    """Set a case's status as an agent's change would: case item, queue key and citizen case."""
    case = case_item(case_id)
    table().update_item(
        Key={"pk": case["pk"], "sk": "CASE"},
        UpdateExpression="SET #status = :status, gsi1pk = :queue",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": status,
            ":queue": f"AGENCY#{case['agency_id']}#STATUS#{status}",
        },
    )
    table().update_item(
        Key={"pk": f"CITIZEN#{case['citizen_id']}", "sk": f"CASE#{case_id}"},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": status},
    )


# Outbound SMS


class SmsOutbox:
    """Records End User Messaging SendTextMessage requests instead of sending them.

    moto 5.2 does not implement SendTextMessage, so a `before-call` handler on
    the product's own client returns a response with a new MessageId for each
    request. The handler is thread-safe, for tests that deliver one event from
    many threads.
    """

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self._lock = threading.Lock()

    @classmethod
    def attach(cls) -> "SmsOutbox":
        """Start recording the sends of the current `chalicelib.aws` client."""
        outbox = cls()
        aws.client(SMS_SERVICE).meta.events.register(SEND_TEXT_EVENT, outbox._answer)
        return outbox

    def to(self, phone: str) -> list[dict]:
        """Return the requests sent to one destination number."""
        return [request for request in self.sent if request["DestinationPhoneNumber"] == phone]

    def _answer(self, params: dict, **_: Any) -> tuple[AWSResponse, dict]:
        request = json.loads(params["body"])
        with self._lock:
            self.sent.append(request)
            message_id = f"outbox-{len(self.sent)}"
        return AWSResponse(params["url"], 200, {}, None), {"MessageId": message_id}


class Matches:
    """A value equal to every string that fully matches `pattern`, for Stubber's expected params."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.pattern.fullmatch(other) is not None

    def __hash__(self) -> int:
        return hash(self.pattern.pattern)

    def __repr__(self) -> str:
        return f"Matches({self.pattern.pattern!r})"


# Concurrency


def serialize_moto_requests(monkeypatch: Any) -> None:
    """Let moto handle one AWS request at a time, as DynamoDB applies each request atomically.

    moto 5.2 in process is not thread-safe, because TransactWriteItems deep-copies
    the table while other threads change it, which raises RuntimeError or restores
    a stale copy over their writes. Requests from different threads still
    interleave between calls, which is the race the product has to handle.
    """
    lock = threading.Lock()
    process_request = botocore_stubber.process_request

    def process_one_at_a_time(request: Any) -> Any:
        with lock:
            return process_request(request)

    monkeypatch.setattr(botocore_stubber, "process_request", process_one_at_a_time)


class _TableBackups:
    """Stand-in for the `copy` module in moto's DynamoDB models: one copy of a table per call.

    moto 5.2.5's `transact_write_items` backs up the table with `copy.deepcopy` once per
    item of the transaction, in a loop that writes nothing, and keeps the last copy. So
    every copy is of the same state, and one is enough. Other values are copied as before.
    """

    def __init__(self) -> None:
        self.tables: dict[int, Any] = {}

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self.tables:
            self.tables[id(value)] = copy.deepcopy(value, memo)
        return self.tables[id(value)]

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def copy_tables_once_per_transaction(monkeypatch: Any) -> None:
    """Make moto copy a table once per TransactWriteItems instead of once per item.

    Each copy takes time in proportion to the table, so tests that write hundreds of
    items would take minutes. Call with moto's requests serialized, because the backups
    of one call are kept until the next call.
    """
    from moto.dynamodb import models

    backups = _TableBackups()
    transact_write_items = models.DynamoDBBackend.transact_write_items

    def transact_with_one_backup(backend: Any, transact_items: Any) -> None:
        backups.tables.clear()
        try:
            return transact_write_items(backend, transact_items)
        finally:
            backups.tables.clear()

    monkeypatch.setattr(models, "copy", backups)
    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items", transact_with_one_backup)


# Logs


class LogCapture:
    """The JSON lines the product's powertools Logger writes, read back as records.

    The Logger's handler keeps the stdout it found at import time, so pytest's
    capsys does not capture its lines. The capture swaps the handler's stream instead.
    """

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def mark(self) -> int:
        """Return a position to pass to `records_since`."""
        return len(self.lines())

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def records_since(self, mark: int) -> list[dict]:
        return [json.loads(line) for line in self.lines()[mark:]]


def capture_logs() -> Any:
    """Send the product's log lines to a new LogCapture until the generator resumes."""
    from chalicelib.observability import logger

    capture = LogCapture()
    handler = logger.registered_handler
    original = handler.setStream(capture.stream)
    try:
        yield capture
    finally:
        handler.setStream(original)
