"""A Connect contact's progress on the citizen's timeline, from contact events and records.

Connect sends contact events unordered, duplicated and best effort, and re-sends
contact records when a contact changes. Each is merged into one leg (one Connect
contact id) of the call's single timeline contact, the same contact that the
contact flow's identify action records, found through the call's dedupe marker.
The merge is monotonic, so any order of arrival gives the same leg:

- Start times (initiated, connected to system, enqueued, connected to agent) keep
  the earliest value seen, and end times (disconnected, after contact work ended)
  keep the latest. A missing time never clears a known one.
- The status rank never drops. It is the highest of the stored rank, the event's
  own rank and the rank that the known times imply. So a DISCONNECTED event that
  arrives before its QUEUED event leaves the leg disconnected, with its enqueue time.
- The queue, agent, channel, initiation method and disconnect reason of an event
  fill in when unknown.
- A contact record replaces what an older record measured (durations, queue name,
  attributes, disconnect reason) when its LastUpdateTimestamp is later, and never
  clears a value that it does not contain.

Writes are conditional on the contact's `call_version`, so concurrent merges re-read
and try again instead of losing one another.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ConflictError, DuplicateEventError
from chalicelib.journey import calls
from chalicelib.journey.models import VOICE
from chalicelib.journey.records import contact_id_for, new_contact, new_marker
from chalicelib.observability import logger
from chalicelib.store.models import CallLeg, Contact, DedupeMarker, citizen_key, event_key
from chalicelib.store.transactions import DEDUPE, Transaction, TransactionConflictError

INITIATED = "initiated"
CONNECTED_TO_SYSTEM = "connected_to_system"
QUEUED = "queued"
CONNECTED_TO_AGENT = "connected_to_agent"
DISCONNECTED = "disconnected"
COMPLETED = "completed"
STATUS_RANKS = {
    INITIATED: 1,
    CONNECTED_TO_SYSTEM: 2,
    QUEUED: 3,
    CONNECTED_TO_AGENT: 4,
    DISCONNECTED: 5,
    COMPLETED: 6,
}
STATUS_OF_RANK = {rank: status for status, rank in STATUS_RANKS.items()}

# Each time field of a leg and the status its presence implies.
START_TIMES = {
    "initiated_at": INITIATED,
    "connected_to_system_at": CONNECTED_TO_SYSTEM,
    "enqueued_at": QUEUED,
    "connected_to_agent_at": CONNECTED_TO_AGENT,
}
END_TIMES = {"disconnected_at": DISCONNECTED, "after_contact_work_end_at": COMPLETED}
# Fields that a contact event fills in when the leg has no value yet.
FILLED_FIELDS = ("channel", "initiation_method", "queue_arn", "agent_arn", "disconnect_reason")
# Fields that a newer contact record replaces.
RECORD_FIELDS = (
    "queue_arn",
    "queue_name",
    "agent_arn",
    "disconnect_reason",
    "queue_seconds",
    "agent_interaction_seconds",
    "hold_seconds",
    "after_contact_work_seconds",
    "attributes",
)
# Initiation methods of contacts that the agency starts, recorded as outbound.
OUTBOUND_METHODS = frozenset({"OUTBOUND", "CALLBACK", "EXTERNAL_OUTBOUND"})

# Concurrent merges of one call retry this many times before giving up with a conflict.
MAX_ATTEMPTS = 4

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
CALLER_UNKNOWN = "caller_unknown"
CONTACT_MISSING = "contact_missing"


@dataclass(frozen=True)
class RecordFacts:
    """The measurements of one leg in a contact record, with the record's LastUpdateTimestamp."""

    updated_at: datetime
    queue_arn: str | None = None
    queue_name: str | None = None
    agent_arn: str | None = None
    disconnect_reason: str | None = None
    queue_seconds: int | None = None
    agent_interaction_seconds: int | None = None
    hold_seconds: int | None = None
    after_contact_work_seconds: int | None = None
    attributes: dict[str, str] | None = None


@dataclass(frozen=True)
class LegUpdate:
    """The facts one contact event or contact record reports about one leg, free of its format."""

    contact_id: str
    # The status the event reports, or None (CONTACT_DATA_UPDATED, contact records).
    status: str | None = None
    channel: str | None = None
    initiation_method: str | None = None
    # Known times by leg field name, such as "enqueued_at".
    times: dict[str, datetime] = field(default_factory=dict)
    queue_arn: str | None = None
    agent_arn: str | None = None
    disconnect_reason: str | None = None
    record: RecordFacts | None = None


@dataclass(frozen=True)
class Location:
    """The position of a call's timeline contact: the citizen's partition and its sort key."""

    citizen_id: str
    contact_sk: str


def merge_leg(stored: dict[str, Any] | None, update: LegUpdate) -> dict[str, Any]:
    """Return a leg with `update` merged in by the rules in the module docstring."""
    leg = {key: value for key, value in (stored or {}).items() if value is not None}
    for name, moment in update.times.items():
        stamp = isoformat_z(moment)
        known = leg.get(name)
        if known is None:
            leg[name] = stamp
        elif name in START_TIMES:
            leg[name] = min(known, stamp)
        else:
            leg[name] = max(known, stamp)
    for name in FILLED_FIELDS:
        value = getattr(update, name)
        if value and not leg.get(name):
            leg[name] = value

    record = update.record
    if record is not None:
        stamp = isoformat_z(record.updated_at)
        if leg.get("record_updated_at") is None or stamp > leg["record_updated_at"]:
            leg["record_updated_at"] = stamp
            for name in RECORD_FIELDS:
                value = getattr(record, name)
                if value is not None:
                    leg[name] = dict(value) if isinstance(value, dict) else value

    rank = max(
        int(leg.get("status_rank") or 0),
        STATUS_RANKS.get(update.status or "", 0),
        *(
            STATUS_RANKS[status]
            for name, status in {**START_TIMES, **END_TIMES}.items()
            if name in leg
        ),
    )
    if rank:
        leg["status_rank"] = rank
        leg["status"] = STATUS_OF_RANK[rank]
    return leg


def record_progress(
    call: calls.Call, update: LegUpdate, hint: Location | None = None
) -> tuple[str, Location | None]:
    """Merge one leg's progress into the call's timeline contact, creating it if needed.

    The contact is found through the call's dedupe marker, else at `hint` (where an
    earlier record of the same contact found it, for records re-sent after the
    marker expired). Without either, the call goes on the timeline of the caller
    id's citizen, chosen as identify chooses, or on none when the caller id is
    withheld. Returns the outcome (created, updated, unchanged, caller_unknown,
    contact_missing) and where the contact is.

    Raises ConflictError when concurrent merges keep changing the contact.
    """
    for _ in range(MAX_ATTEMPTS):
        location = _located(call.call_id) or hint
        if location is None:
            outcome, location = _create(call, update)
            if outcome is not None:
                return outcome, location
            continue
        outcome = _merge_into(location, update)
        if outcome is not None:
            return outcome, location
    raise ConflictError(f"call {call.call_id} kept changing while its progress was merged")


def _located(call_id: str) -> Location | None:
    try:
        marker = DedupeMarker.get(event_key(VOICE, call_id), "EVENT", consistent_read=True)
    except DedupeMarker.DoesNotExist:
        return None
    return Location(marker.citizen_id, marker.contact_sk)


def _create(call: calls.Call, update: LegUpdate) -> tuple[str | None, Location | None]:
    """Record the call with this one leg; return (None, None) when another write won a race."""
    citizen_id, pending = calls.caller_of(call)
    if citizen_id is None:
        logger.info("call progress not recorded: caller unknown", extra={"leg": update.contact_id})
        return CALLER_UNKNOWN, None

    now = utc_now()
    leg = merge_leg(None, update)
    started = update.times.get("initiated_at") if update.contact_id == call.call_id else None
    contact = new_contact(
        contact_id=contact_id_for(VOICE, call.call_id),
        citizen_id=citizen_id,
        agency_id=call.agency.agency_id,
        channel=call.channel,
        direction="outbound" if update.initiation_method in OUTBOUND_METHODS else "inbound",
        kind="call",
        occurred_at=started or now,
        now=now,
        external_id=call.call_id,
        identity_kind=call.caller.kind if call.caller else None,
        identity_verified=False,
    )
    contact.call_legs = {update.contact_id: CallLeg(**leg)}
    contact.call_version = 1
    transaction = pending or Transaction()
    transaction.put_new(contact, tag="contact")
    transaction.put_new(new_marker(VOICE, call.call_id, contact, now), tag=DEDUPE)
    try:
        transaction.commit()
    except (DuplicateEventError, TransactionConflictError):
        # identify or another event recorded the call meanwhile: merge into theirs.
        return None, None
    logger.info("call recorded from progress", extra={"citizen_id": citizen_id})
    return CREATED, Location(citizen_id, contact.sk)


def _merge_into(location: Location, update: LegUpdate) -> str | None:
    """Merge into the contact at `location`; return None when a concurrent write won."""
    try:
        contact = Contact.get(
            citizen_key(location.citizen_id), location.contact_sk, consistent_read=True
        )
    except Contact.DoesNotExist:
        logger.warning(
            "call progress not recorded: contact missing", extra={"leg": update.contact_id}
        )
        return CONTACT_MISSING
    legs = legs_of(contact)
    merged = merge_leg(legs.get(update.contact_id), update)
    if merged == legs.get(update.contact_id):
        return UNCHANGED

    legs[update.contact_id] = merged
    version = contact.call_version
    condition = Contact.pk.exists() & (
        Contact.call_version.does_not_exist()
        if version is None
        else Contact.call_version == version
    )
    actions = [
        Contact.call_legs.set({leg_id: CallLeg(**leg) for leg_id, leg in legs.items()}),
        Contact.call_version.set(int(version or 0) + 1),
    ]
    try:
        contact.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    logger.info("call progress merged", extra={"citizen_id": location.citizen_id})
    return UPDATED


def legs_of(contact: Contact) -> dict[str, dict[str, Any]]:
    """Return a contact's legs as plain dicts by contact id."""
    stored = contact.call_legs
    if stored is None:
        return {}
    raw = stored.as_dict() if hasattr(stored, "as_dict") else dict(stored)
    return {leg_id: _plain(leg) for leg_id, leg in raw.items()}


def _plain(leg: Any) -> dict[str, Any]:
    values = leg.as_dict() if hasattr(leg, "as_dict") else dict(leg)
    attributes = values.get("attributes")
    if attributes is not None and hasattr(attributes, "as_dict"):
        values["attributes"] = attributes.as_dict()
    return values


@dataclass(frozen=True)
class CallSummary:
    """A call as a timeline shows it, summed over its legs in the order they started."""

    status: str | None
    started_at: str | None
    answered_at: str | None
    ended_at: str | None
    queue_name: str | None
    time_in_queue_seconds: int | None
    agent_interaction_seconds: int | None
    hold_seconds: int | None
    disconnect_reason: str | None
    legs: list[tuple[str, dict[str, Any]]]


def summarize(legs: dict[str, dict[str, Any]]) -> CallSummary | None:
    """Return the call's summary, whose status is that of the leg that started last."""
    if not legs:
        return None
    ordered = sorted(legs.items(), key=lambda item: (item[1].get("initiated_at") or "", item[0]))
    last = ordered[-1][1]
    started = [leg["initiated_at"] for _, leg in ordered if leg.get("initiated_at")]
    answered = [
        leg["connected_to_agent_at"] for _, leg in ordered if leg.get("connected_to_agent_at")
    ]
    ended = [leg["disconnected_at"] for _, leg in ordered if leg.get("disconnected_at")]
    queues = [leg["queue_name"] for _, leg in ordered if leg.get("queue_name")]
    return CallSummary(
        status=last.get("status"),
        started_at=min(started) if started else None,
        answered_at=min(answered) if answered else None,
        ended_at=max(ended) if ended and last.get("disconnected_at") else None,
        queue_name=queues[-1] if queues else None,
        time_in_queue_seconds=_total(ordered, "queue_seconds"),
        agent_interaction_seconds=_total(ordered, "agent_interaction_seconds"),
        hold_seconds=_total(ordered, "hold_seconds"),
        disconnect_reason=last.get("disconnect_reason"),
        legs=ordered,
    )


def _total(legs: list[tuple[str, dict[str, Any]]], name: str) -> int | None:
    values = [int(leg[name]) for _, leg in legs if leg.get(name) is not None]
    return sum(values) if values else None
