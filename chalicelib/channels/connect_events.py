"""Amazon Connect contact events from EventBridge (`connect_contact_events`).

The envelope has `source` "aws.connect" and `detail-type` "Amazon Connect Contact
Event"; `detail` describes one contact (one leg of a call) in camelCase. Earlier
versions of Connect's documentation show the same keys in PascalCase
(`InstanceARN`, `AgentInfo`), so keys are matched without regard to case. Events
arrive unordered, duplicated and best effort, and Connect adds event types and
fields over time: an event type not listed here is logged and ignored.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.channels.connect import CHANNELS, Endpoint, _caller
from chalicelib.channels.validation import validate
from chalicelib.clock import parse_utc
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.journey import calls
from chalicelib.journey.call_progress import (
    COMPLETED,
    CONNECTED_TO_AGENT,
    CONNECTED_TO_SYSTEM,
    DISCONNECTED,
    INITIATED,
    QUEUED,
    LegUpdate,
    record_progress,
)
from chalicelib.observability import logger

# The event types handled, each with the leg status it reports (None: no status).
EVENT_STATUSES = {
    "INITIATED": INITIATED,
    "CONNECTED_TO_SYSTEM": CONNECTED_TO_SYSTEM,
    "QUEUED": QUEUED,
    "CONNECTED_TO_AGENT": CONNECTED_TO_AGENT,
    "DISCONNECTED": DISCONNECTED,
    "COMPLETED": COMPLETED,
    "CONTACT_DATA_UPDATED": None,
}


class _AnyCase(BaseModel):
    """A model whose fields are named in lower case and match keys of any case."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _lower_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key.lower() if isinstance(key, str) else key: value for key, value in data.items()
            }
        return data


def optional_time(value: Any) -> datetime | None:
    """Parse an ISO 8601 time with a zone, or return None for null or an empty string.

    The error message leaves the value out, because validation messages reach the logs.
    """
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise TypeError(type(value).__name__)
        return parse_utc(value)
    except (TypeError, ValueError) as error:
        raise ValueError("expected an ISO 8601 time with a zone") from error


class EventQueue(_AnyCase):
    queue_arn: str | None = Field(default=None, alias="queuearn")
    enqueued_at: datetime | None = Field(default=None, alias="enqueuetimestamp")

    _times = field_validator("enqueued_at", mode="before")(optional_time)


class EventAgent(_AnyCase):
    agent_arn: str | None = Field(default=None, alias="agentarn")
    connected_to_agent_at: datetime | None = Field(default=None, alias="connectedtoagenttimestamp")
    after_contact_work_end_at: datetime | None = Field(
        default=None, alias="aftercontactworkendtimestamp"
    )

    _times = field_validator("connected_to_agent_at", "after_contact_work_end_at", mode="before")(
        optional_time
    )


class EventEndpoint(_AnyCase):
    address: str | None = None
    type: str | None = None


class ContactEventDetail(_AnyCase):
    event_type: str = Field(alias="eventtype", min_length=1, max_length=64)
    contact_id: str = Field(alias="contactid", min_length=1, max_length=256)
    initial_contact_id: str | None = Field(default=None, alias="initialcontactid", max_length=256)
    channel: str | None = None
    instance_arn: str = Field(alias="instancearn", min_length=1)
    initiation_method: str | None = Field(default=None, alias="initiationmethod")
    initiated_at: datetime | None = Field(default=None, alias="initiationtimestamp")
    connected_to_system_at: datetime | None = Field(
        default=None, alias="connectedtosystemtimestamp"
    )
    disconnected_at: datetime | None = Field(default=None, alias="disconnecttimestamp")
    queue: EventQueue | None = Field(default=None, alias="queueinfo")
    agent: EventAgent | None = Field(default=None, alias="agentinfo")
    customer_endpoint: EventEndpoint | None = Field(default=None, alias="customerendpoint")
    disconnect_reason: str | None = Field(default=None, alias="disconnectreason")

    _times = field_validator(
        "initiated_at", "connected_to_system_at", "disconnected_at", mode="before"
    )(optional_time)

    @field_validator("disconnect_reason", mode="before")
    @classmethod
    def _reason_code(cls, value: Any) -> Any:
        # Some Connect APIs give the reason as {"Code": ...} instead of a string.
        if isinstance(value, dict):
            return value.get("Code") or value.get("code")
        return value


class ContactEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    detail: ContactEventDetail


def parse_event(event: Any) -> ContactEventDetail:
    """Return the event's detail; raises ValidationError for a malformed event."""
    return validate(ContactEvent, event).detail


def leg_update(detail: ContactEventDetail) -> LegUpdate:
    """Return the facts the event reports about its leg."""
    queue = detail.queue or EventQueue()
    agent = detail.agent or EventAgent()
    times = {
        "initiated_at": detail.initiated_at,
        "connected_to_system_at": detail.connected_to_system_at,
        "enqueued_at": queue.enqueued_at,
        "connected_to_agent_at": agent.connected_to_agent_at,
        "disconnected_at": detail.disconnected_at,
        "after_contact_work_end_at": agent.after_contact_work_end_at,
    }
    return LegUpdate(
        contact_id=detail.contact_id,
        status=EVENT_STATUSES[detail.event_type.upper()],
        channel=(detail.channel or "").upper() or None,
        initiation_method=(detail.initiation_method or "").upper() or None,
        times={name: moment for name, moment in times.items() if moment is not None},
        queue_arn=queue.queue_arn,
        agent_arn=agent.agent_arn,
        disconnect_reason=detail.disconnect_reason,
    )


def call_of(detail: ContactEventDetail, agency: AgencyConfig) -> calls.Call:
    endpoint = detail.customer_endpoint
    caller = None
    if endpoint is not None:
        caller = _caller(Endpoint(Address=endpoint.address, Type=endpoint.type), agency)
    channel = (detail.channel or "VOICE").upper()
    return calls.Call(
        agency=agency,
        call_id=detail.initial_contact_id or detail.contact_id,
        channel=CHANNELS.get(channel, channel.lower()),
        caller=caller,
        language_hint=None,
    )


def handle(event: Any) -> None:
    """Merge one contact event into its call's timeline contact.

    A malformed event, an ignored event type or an instance that no agency owns is
    logged and dropped, because a retry would fail the same way. DynamoDB errors
    propagate, so that Lambda retries the event.
    """
    try:
        detail = parse_event(event)
    except ValidationError as error:
        logger.warning("contact event rejected", extra={"error": error.message})
        return
    logger.append_keys(contact_id=detail.contact_id)
    if detail.event_type.upper() not in EVENT_STATUSES:
        logger.info("contact event type ignored", extra={"event_type": detail.event_type})
        return
    try:
        agency = agency_for_endpoint("connect", detail.instance_arn)
    except NotFoundError:
        logger.warning("contact event rejected: no agency owns the instance")
        return

    logger.append_keys(agency=agency.agency_id)
    outcome, _ = record_progress(call_of(detail, agency), leg_update(detail))
    logger.info(
        "contact event handled", extra={"event_type": detail.event_type, "outcome": outcome}
    )
