"""Connect contact records: the call's timeline contact and the phone figures.

Connect delivers a contact record at least once and re-sends it when the contact
changes, so the record with the latest LastUpdateTimestamp wins. Each contact is
counted once in the figures however often its record arrives. The stored record
keeps what it added to the figures, and a newer record adds only the difference.
One transaction adds it and replaces the stored record, on the condition that the
stored record is still the one read. An older or repeated record changes nothing.

Only voice contacts that citizens start or that move between queues (initiation
method INBOUND, TRANSFER or QUEUE_TRANSFER) are counted. A contact that entered a
queue is offered there and then answered (an agent connected), abandoned (the
caller hung up: disconnect reason CUSTOMER_DISCONNECT or none, and no next
contact), or ended otherwise (a transfer, a callback, the flow). A contact with
neither `Queue` nor `Agent` ended in the IVR: abandoned on the same rule, else
ended by the flow. Handle time is agent interaction plus hold plus after contact
work. Callback contacts (initiation method CALLBACK) are the agency's call back,
which `record_ivr_choice` counted when the caller requested it.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ConflictError
from chalicelib.journey import calls
from chalicelib.journey.call_progress import LegUpdate, Location, RecordFacts, record_progress
from chalicelib.reports.histogram import bucket_index
from chalicelib.reports.phone import (
    NO_QUEUE,
    add_to_row,
    local_day,
    pause_before_retry,
    queue_id_of,
)
from chalicelib.store.models import (
    HANDLE_BUCKET_PREFIX,
    WAIT_BUCKET_PREFIX,
    ContactRecordItem,
    contact_record_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

COUNTED_METHODS = frozenset({"INBOUND", "TRANSFER", "QUEUE_TRANSFER"})
# Disconnect reasons that mean the caller hung up; None is an older record without one.
CALLER_HUNG_UP = frozenset({"CUSTOMER_DISCONNECT", None})
# Connect keeps a contact for 24 months from its initiation and can re-send its
# record until then, so the stored record is kept a month longer.
RECORD_RETENTION = timedelta(days=760)
MAX_ATTEMPTS = 4

RECORDED = "recorded"
CORRECTED = "corrected"
DUPLICATE = "duplicate"
STALE = "stale"


@dataclass(frozen=True)
class QueueFacts:
    arn: str | None
    name: str | None
    enqueued_at: datetime | None
    dequeued_at: datetime | None
    # Queue.Duration, whole seconds between enqueue and dequeue.
    duration: int | None


@dataclass(frozen=True)
class AgentFacts:
    arn: str | None
    connected_at: datetime | None
    interaction_seconds: int | None
    hold_seconds: int | None
    after_contact_work_seconds: int | None
    after_contact_work_end_at: datetime | None


@dataclass(frozen=True)
class ContactRecord:
    """One contact record, free of its wire format; `channel` and enums are upper case."""

    agency: AgencyConfig
    contact_id: str
    initial_contact_id: str | None
    next_contact_id: str | None
    channel: str
    initiation_method: str | None
    last_updated_at: datetime
    initiated_at: datetime | None
    connected_to_system_at: datetime | None
    disconnected_at: datetime | None
    disconnect_reason: str | None
    queue: QueueFacts | None
    agent: AgentFacts | None
    attributes: dict[str, str]
    # The call as the timeline records it: caller id, channel and call id.
    call: calls.Call


@dataclass(frozen=True)
class Contribution:
    """A record's share of the figures: counter amounts in one day's queue row."""

    day: str
    queue_id: str
    amounts: dict[str, int]
    queue_arn: str | None = None
    queue_name: str | None = None


@dataclass(frozen=True)
class RecordResult:
    outcome: str
    # What the record adds to the figures, set on a contact's first counted record only.
    first_counted: Contribution | None = None
    # The time in queue and handle time of a first counted record, in seconds.
    samples: dict[str, int] = field(default_factory=dict)


def wait_seconds(queue: QueueFacts) -> int | None:
    """Return the time in queue: Queue.Duration, else dequeue minus enqueue, else None."""
    if queue.duration is not None:
        return max(0, queue.duration)
    if queue.enqueued_at and queue.dequeued_at:
        return max(0, int((queue.dequeued_at - queue.enqueued_at).total_seconds()))
    return None


def handle_seconds(agent: AgentFacts) -> int | None:
    """Return agent interaction plus hold plus after contact work, or None when none is known."""
    parts = (agent.interaction_seconds, agent.hold_seconds, agent.after_contact_work_seconds)
    known = [max(0, part) for part in parts if part is not None]
    return sum(known) if known else None


def contribution(record: ContactRecord) -> tuple[Contribution | None, dict[str, int]]:
    """Return what the record adds to the figures (None for a contact not counted) and its samples.

    The rules are in the module docstring.
    """
    if record.channel != "VOICE" or record.initiation_method not in COUNTED_METHODS:
        return None, {}
    moment = record.initiated_at or record.last_updated_at
    day = local_day(moment, record.agency.timezone)
    amounts: dict[str, int] = {}
    samples: dict[str, int] = {}
    if record.initiation_method == "INBOUND":
        amounts["inbound_calls"] = 1

    answered = record.agent is not None
    hung_up = record.disconnect_reason in CALLER_HUNG_UP and not record.next_contact_id
    queue = record.queue
    if queue is not None:
        amounts["offered"] = 1
        if answered:
            amounts["answered"] = 1
        elif hung_up:
            amounts["abandoned_in_queue"] = 1
        else:
            amounts["ended_in_queue"] = 1
        waited = wait_seconds(queue)
        if waited is not None:
            samples["wait"] = waited
            amounts[f"{WAIT_BUCKET_PREFIX}_{bucket_index(waited):02d}"] = 1
            amounts["wait_seconds_total"] = waited
    elif not answered:
        amounts["abandoned_in_ivr" if hung_up else "ended_in_ivr"] = 1

    if record.agent is not None:
        handled = handle_seconds(record.agent)
        if handled is not None:
            samples["handle"] = handled
            amounts[f"{HANDLE_BUCKET_PREFIX}_{bucket_index(handled):02d}"] = 1
            amounts["handle_seconds_total"] = handled
    queue_id = queue_id_of(queue.arn) if queue is not None else NO_QUEUE
    return Contribution(
        day=day,
        queue_id=queue_id,
        amounts=amounts,
        queue_arn=queue.arn if queue is not None else None,
        queue_name=queue.name if queue is not None else None,
    ), samples


def differences(
    old: Contribution | None, new: Contribution | None
) -> dict[tuple[str, str], dict[str, int]]:
    """Return the amounts to add to each (day, queue id) row to replace `old` by `new`."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for sign, part in ((-1, old), (1, new)):
        if part is None:
            continue
        amounts = rows.setdefault((part.day, part.queue_id), {})
        for name, amount in part.amounts.items():
            amounts[name] = amounts.get(name, 0) + sign * amount
    return {
        row: {name: amount for name, amount in amounts.items() if amount}
        for row, amounts in rows.items()
        if any(amounts.values())
    }


def record_contact(record: ContactRecord) -> RecordResult:
    """Put a contact record on the call's timeline contact and into the figures.

    Raises ConflictError when concurrent copies of the record keep racing.
    """
    stamp = isoformat_z(record.last_updated_at)
    for attempt in range(MAX_ATTEMPTS):
        stored = _stored(record.contact_id)
        if stored is not None and stored.last_update_timestamp >= stamp:
            return RecordResult(DUPLICATE if stored.last_update_timestamp == stamp else STALE)

        hint = None
        if stored is not None and stored.timeline_citizen_id and stored.timeline_contact_sk:
            hint = Location(stored.timeline_citizen_id, stored.timeline_contact_sk)
        _, location = record_progress(record.call, leg_update(record), hint)

        new, samples = contribution(record)
        old = _counted(stored)
        transaction = Transaction()
        item = _item(record, stamp, new, location)
        if stored is None:
            transaction.put_new(item, tag="record")
        else:
            condition = ContactRecordItem.last_update_timestamp == stored.last_update_timestamp
            transaction.put(item, tag="record", condition=condition)
        for (day, queue_id), amounts in differences(old, new).items():
            current = new is not None and (new.day, new.queue_id) == (day, queue_id)
            add_to_row(
                transaction,
                record.agency.agency_id,
                day,
                queue_id,
                amounts,
                queue_arn=new.queue_arn if current else None,
                queue_name=new.queue_name if current else None,
            )
        try:
            transaction.commit()
        except TransactionConflictError:
            # Another copy of this record was written since it was read, or another
            # transaction was writing the same figure row. Either way, read again.
            pause_before_retry(attempt)
            continue
        if stored is None:
            return RecordResult(RECORDED, first_counted=new, samples=samples)
        return RecordResult(CORRECTED)
    raise ConflictError(f"contact record {record.contact_id} kept changing while it was recorded")


def leg_update(record: ContactRecord) -> LegUpdate:
    """Return the facts the record reports about its leg, for the call's timeline contact."""
    queue, agent = record.queue, record.agent
    times = {
        "initiated_at": record.initiated_at,
        "connected_to_system_at": record.connected_to_system_at,
        "enqueued_at": queue.enqueued_at if queue else None,
        "connected_to_agent_at": agent.connected_at if agent else None,
        "disconnected_at": record.disconnected_at,
        "after_contact_work_end_at": agent.after_contact_work_end_at if agent else None,
    }
    facts = RecordFacts(
        updated_at=record.last_updated_at,
        queue_arn=queue.arn if queue else None,
        queue_name=queue.name if queue else None,
        agent_arn=agent.arn if agent else None,
        disconnect_reason=record.disconnect_reason,
        queue_seconds=wait_seconds(queue) if queue else None,
        agent_interaction_seconds=agent.interaction_seconds if agent else None,
        hold_seconds=agent.hold_seconds if agent else None,
        after_contact_work_seconds=agent.after_contact_work_seconds if agent else None,
        attributes=record.attributes or None,
    )
    return LegUpdate(
        contact_id=record.contact_id,
        channel=record.channel,
        initiation_method=record.initiation_method,
        times={name: moment for name, moment in times.items() if moment is not None},
        record=facts,
    )


def _stored(contact_id: str) -> ContactRecordItem | None:
    try:
        return ContactRecordItem.get(contact_record_key(contact_id), "RECORD", consistent_read=True)
    except ContactRecordItem.DoesNotExist:
        return None


def _counted(stored: ContactRecordItem | None) -> Contribution | None:
    if stored is None or stored.counted_day is None or stored.counted_queue_id is None:
        return None
    counted = stored.counted.as_dict() if stored.counted is not None else {}
    amounts = {name: int(amount) for name, amount in counted.items()}
    return Contribution(stored.counted_day, stored.counted_queue_id, amounts)


def _item(
    record: ContactRecord, stamp: str, counted: Contribution | None, location: Location | None
) -> ContactRecordItem:
    now = utc_now()
    queue, agent = record.queue, record.agent
    started = record.initiated_at or record.last_updated_at
    return ContactRecordItem(
        contact_record_key(record.contact_id),
        "RECORD",
        contact_id=record.contact_id,
        initial_contact_id=record.initial_contact_id,
        agency_id=record.agency.agency_id,
        last_update_timestamp=stamp,
        channel=record.channel,
        initiation_method=record.initiation_method,
        initiated_at=_stamp(record.initiated_at),
        disconnected_at=_stamp(record.disconnected_at),
        disconnect_reason=record.disconnect_reason,
        queue_arn=queue.arn if queue else None,
        queue_name=queue.name if queue else None,
        enqueued_at=_stamp(queue.enqueued_at) if queue else None,
        queue_seconds=wait_seconds(queue) if queue else None,
        agent_arn=agent.arn if agent else None,
        connected_to_agent_at=_stamp(agent.connected_at) if agent else None,
        agent_interaction_seconds=agent.interaction_seconds if agent else None,
        hold_seconds=agent.hold_seconds if agent else None,
        after_contact_work_seconds=agent.after_contact_work_seconds if agent else None,
        attributes=record.attributes or None,
        counted_day=counted.day if counted else None,
        counted_queue_id=counted.queue_id if counted else None,
        counted=dict(counted.amounts) if counted else None,
        timeline_citizen_id=location.citizen_id if location else None,
        timeline_contact_sk=location.contact_sk if location else None,
        recorded_at=isoformat_z(now),
        expires_at=started + RECORD_RETENTION,
    )


def _stamp(moment: datetime | None) -> str | None:
    return isoformat_z(moment) if moment is not None else None
