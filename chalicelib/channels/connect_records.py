"""Amazon Connect contact records from Kinesis (`connect_contact_records`).

Each Kinesis record's `data` is a base64-encoded JSON contact record in PascalCase,
with timestamps to the second ending in `Z`. An instance may stream its agent
events to the same stream. Those have no `ContactId` and are skipped with a count.

Chalice cannot return a partial batch failure, and a raise would make Lambda retry
the whole batch, so each record is isolated. A record that cannot be recorded is
logged with ids only and parked: it is malformed, names an unknown instance, or
DynamoDB failed. The parked contact records queue receives it as a one-record
Kinesis event, which the function accepts again once the cause is fixed. The rest of
the batch goes on.
Only when parking itself fails does the handler raise, and Lambda then retries the
batch. That retry is safe, because recording is idempotent per contact and
LastUpdateTimestamp.
"""

import base64
import binascii
import json
import traceback
from collections import Counter
from datetime import datetime
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pynamodb.exceptions import PynamoDBException

from chalicelib import aws
from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.channels.connect import CHANNELS, Endpoint, _caller
from chalicelib.channels.connect_events import optional_time
from chalicelib.channels.validation import validate
from chalicelib.errors import NotFoundError, ValidationError, VentanillaError
from chalicelib.journey import calls
from chalicelib.observability import logger
from chalicelib.reports import contact_records
from chalicelib.reports.contact_records import AgentFacts, ContactRecord, QueueFacts
from chalicelib.reports.metrics import BatchMetrics
from chalicelib.settings import get_settings

# Event types of Connect's agent event stream, whose records carry no ContactId.
AGENT_EVENT_TYPES = frozenset({"LOGIN", "LOGOUT", "STATE_CHANGE", "HEART_BEAT"})
AGENT_EVENT = "agent_event"
PARKED = "parked"


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RecordQueue(_Tolerant):
    ARN: str | None = None
    Name: str | None = None
    EnqueueTimestamp: datetime | None = None
    DequeueTimestamp: datetime | None = None
    Duration: int | None = Field(default=None, ge=0)

    _times = field_validator("EnqueueTimestamp", "DequeueTimestamp", mode="before")(optional_time)


class RecordAgent(_Tolerant):
    ARN: str | None = None
    ConnectedToAgentTimestamp: datetime | None = None
    AgentInteractionDuration: int | None = Field(default=None, ge=0)
    CustomerHoldDuration: int | None = Field(default=None, ge=0)
    AfterContactWorkDuration: int | None = Field(default=None, ge=0)
    AfterContactWorkEndTimestamp: datetime | None = None

    _times = field_validator(
        "ConnectedToAgentTimestamp", "AfterContactWorkEndTimestamp", mode="before"
    )(optional_time)


class ContactTraceRecord(_Tolerant):
    ContactId: str = Field(min_length=1, max_length=256)
    InitialContactId: str | None = Field(default=None, max_length=256)
    NextContactId: str | None = Field(default=None, max_length=256)
    Channel: str = Field(min_length=1, max_length=32)
    InitiationMethod: str | None = Field(default=None, max_length=64)
    InstanceARN: str = Field(min_length=1)
    LastUpdateTimestamp: datetime
    InitiationTimestamp: datetime | None = None
    ConnectedToSystemTimestamp: datetime | None = None
    DisconnectTimestamp: datetime | None = None
    DisconnectReason: str | None = Field(default=None, max_length=64)
    Queue: RecordQueue | None = None
    Agent: RecordAgent | None = None
    Attributes: dict[str, Any] | None = None
    CustomerEndpoint: Endpoint | None = None

    _times = field_validator(
        "LastUpdateTimestamp",
        "InitiationTimestamp",
        "ConnectedToSystemTimestamp",
        "DisconnectTimestamp",
        mode="before",
    )(optional_time)

    @field_validator("Attributes")
    @classmethod
    def _as_strings(cls, value: dict[str, Any] | None) -> dict[str, str]:
        return {key: "" if item is None else str(item) for key, item in (value or {}).items()}


class ParkingError(RuntimeError):
    """Raised when a failed record could not be parked; Lambda then retries the batch."""


def handle(event: Any) -> dict[str, int]:
    """Record every contact record of a Kinesis batch; return the count of each outcome."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        logger.warning("contact records rejected: the event has no Records list")
        return {}
    outcomes: Counter[str] = Counter()
    metrics = BatchMetrics()
    for raw in records:
        outcome = _handle_record(raw, metrics)
        outcomes[outcome] += 1
        metrics.count_outcome(outcome)
    metrics.flush()
    logger.info("contact records handled", extra={"outcomes": dict(outcomes)})
    return dict(outcomes)


def _handle_record(raw: Any, metrics: BatchMetrics) -> str:
    """Record one Kinesis record and return its outcome, parking it when it fails."""
    sequence_number = _sequence_number(raw)
    logger.append_keys(sequence_number=sequence_number)
    try:
        document = decode(raw)
        if is_agent_event(document):
            return AGENT_EVENT
        trace = validate(ContactTraceRecord, document)
        logger.append_keys(contact_id=trace.ContactId)
        agency = agency_for_endpoint("connect", trace.InstanceARN)
        result = contact_records.record_contact(to_record(trace, agency))
        if result.first_counted is not None:
            metrics.count_first_record(agency.agency_id, result.first_counted, result.samples)
        return result.outcome
    except ValidationError as error:
        _park(raw, "invalid_record", field=error.field)
    except NotFoundError:
        _park(raw, "unknown_instance")
    except VentanillaError as error:
        _park(raw, error.code, error_type=type(error).__name__)
    except (PynamoDBException, BotoCoreError, ClientError) as error:
        _park(raw, "unavailable", error_type=type(error).__name__)
    except Exception as error:  # noqa: BLE001 - one bad record must not fail the batch
        _park(
            raw,
            "internal_error",
            error_type=type(error).__name__,
            # The frames without the message, which could repeat the record's data.
            stack="".join(traceback.format_tb(error.__traceback__)),
        )
    finally:
        logger.remove_keys(["sequence_number", "contact_id"])
    return PARKED


def decode(raw: Any) -> Any:
    """Return the JSON document in a Kinesis record; raises ValidationError naming the part."""
    data = raw.get("kinesis", {}).get("data") if isinstance(raw, dict) else None
    if not isinstance(data, str):
        raise ValidationError("kinesis.data: is required", field="kinesis.data")
    try:
        text = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationError("kinesis.data: invalid base64", field="kinesis.data") from error
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ValidationError("kinesis.data: invalid JSON", field="kinesis.data") from error


def is_agent_event(document: Any) -> bool:
    """Return whether a document is an agent event: no ContactId, and an agent event's keys."""
    if not isinstance(document, dict) or "ContactId" in document:
        return False
    return "AgentARN" in document or document.get("EventType") in AGENT_EVENT_TYPES


def to_record(trace: ContactTraceRecord, agency: AgencyConfig) -> ContactRecord:
    """Return the contact record free of its wire format."""
    channel = trace.Channel.upper()
    caller = _caller(trace.CustomerEndpoint, agency)
    call = calls.Call(
        agency=agency,
        call_id=trace.InitialContactId or trace.ContactId,
        channel=CHANNELS.get(channel, channel.lower()),
        caller=caller,
        language_hint=None,
    )
    queue = None
    if trace.Queue is not None and (trace.Queue.ARN or trace.Queue.EnqueueTimestamp):
        queue = QueueFacts(
            arn=trace.Queue.ARN,
            name=trace.Queue.Name,
            enqueued_at=trace.Queue.EnqueueTimestamp,
            dequeued_at=trace.Queue.DequeueTimestamp,
            duration=trace.Queue.Duration,
        )
    agent = None
    if trace.Agent is not None:
        agent = AgentFacts(
            arn=trace.Agent.ARN,
            connected_at=trace.Agent.ConnectedToAgentTimestamp,
            interaction_seconds=trace.Agent.AgentInteractionDuration,
            hold_seconds=trace.Agent.CustomerHoldDuration,
            after_contact_work_seconds=trace.Agent.AfterContactWorkDuration,
            after_contact_work_end_at=trace.Agent.AfterContactWorkEndTimestamp,
        )
    return ContactRecord(
        agency=agency,
        contact_id=trace.ContactId,
        initial_contact_id=trace.InitialContactId,
        next_contact_id=trace.NextContactId,
        channel=channel,
        initiation_method=(trace.InitiationMethod or "").upper() or None,
        last_updated_at=trace.LastUpdateTimestamp,
        initiated_at=trace.InitiationTimestamp,
        connected_to_system_at=trace.ConnectedToSystemTimestamp,
        disconnected_at=trace.DisconnectTimestamp,
        disconnect_reason=trace.DisconnectReason,
        queue=queue,
        agent=agent,
        attributes=trace.Attributes or {},
        call=call,
    )


def _sequence_number(raw: Any) -> str | None:
    kinesis = raw.get("kinesis") if isinstance(raw, dict) else None
    number = kinesis.get("sequenceNumber") if isinstance(kinesis, dict) else None
    return number if isinstance(number, str) else None


@cache
def _parked_queue_url() -> str:
    name = get_settings().parked_records_queue
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def _park(raw: Any, reason: str, **details: str | None) -> None:
    """Send one failed record to the parked records queue; raises ParkingError when that fails."""
    known = {name: value for name, value in details.items() if value}
    attributes = {
        name: {"DataType": "String", "StringValue": value[:256]}
        for name, value in {"reason": reason, **known}.items()
        if name != "stack"
    }
    try:
        aws.client("sqs").send_message(
            QueueUrl=_parked_queue_url(),
            MessageBody=json.dumps({"Records": [raw]}),
            MessageAttributes=attributes,
        )
    except (BotoCoreError, ClientError) as error:
        logger.error(
            "contact record not parked; the batch will be retried",
            extra={"reason": reason, "error_type": type(error).__name__},
        )
        raise ParkingError(f"parking a contact record failed: {type(error).__name__}") from error
    logger.warning("contact record parked", extra={"reason": reason, **known})
