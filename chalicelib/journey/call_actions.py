"""Steps shared by the contact flow actions that act for the caller: request_callback, send_link.

Each action reads, in one TransactGetItems, the call's dedupe marker (whether the call
already has its contact), the action's own marker (whether an earlier invocation of
this call ran it) and the pointer of a keyed case reference. Its own records and the
action added to the call's contact are then written in one transaction.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactGet

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import parse_utc
from chalicelib.journey.calls import Call, Caller, new_call_contact
from chalicelib.journey.models import VOICE
from chalicelib.journey.records import new_marker
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CaseReference,
    Contact,
    DedupeMarker,
    case_key,
    citizen_key,
    event_key,
    reference_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

# Tags of the writes that record the call itself when no earlier action did.
CALL_CONTACT_TAG = "call contact"
CALL_MARKER_TAG = "call marker"


@dataclass(frozen=True)
class CallState:
    """The records of earlier invocations of the call, and the keyed reference's case."""

    call_marker: DedupeMarker | None
    action_marker: DedupeMarker | None
    case: Case | None


@dataclass(frozen=True)
class CaseRef:
    """A case as an identity link remembers it: id and reference, without its status."""

    case_id: str
    reference: str


def read_call_state(call_id: str, action_key: str, reference: str | None) -> CallState:
    """Read the call's marker, the action's marker `action_key` and the reference's case.

    The three items come in one TransactGetItems, the one request that returns items
    of several models. The case itself is one GetItem more, only for a keyed reference.
    """
    with TransactGet(connection=DedupeMarker._get_connection().connection) as read:
        call_marker = read.get(DedupeMarker, event_key(VOICE, call_id), "EVENT")
        action_marker = read.get(DedupeMarker, action_key, "EVENT")
        pointer = read.get(CaseReference, reference_key(reference), "CASE") if reference else None
    found_pointer = _found(pointer) if pointer is not None else None
    return CallState(_found(call_marker), _found(action_marker), _case(found_pointer))


def _found(future: Any) -> Any:
    try:
        return future.get()
    except DoesNotExist:
        return None


def _case(pointer: CaseReference | None) -> Case | None:
    if pointer is None:
        return None
    try:
        return Case.get(case_key(pointer.case_id), "CASE")
    except Case.DoesNotExist:
        return None


def remembered_case(caller: Caller, agency: AgencyConfig, now: datetime) -> CaseRef | None:
    """Return the caller's open case here, as their identity link remembers it, if still active.

    A case counts as active within the agency's `active_case_days`, the window in which
    a message would join it. Its status is not read, so a case resolved within that
    window still counts.
    """
    entry = (caller.open_cases or {}).get(agency.agency_id) or {}
    if not all(entry.get(key) for key in ("case_id", "reference", "last_activity_at")):
        return None
    if parse_utc(entry["last_activity_at"]) < now - timedelta(days=agency.active_case_days):
        return None
    return CaseRef(entry["case_id"], entry["reference"])


def add_call_writes(
    transaction: Transaction,
    call: Call,
    citizen_id: str,
    action: str,
    case: Case | CaseRef | None,
    call_marker: DedupeMarker | None,
    now: datetime,
) -> None:
    """Add the writes that put `action` on the call's contact, creating it when the call has none.

    The new contact and its marker are tagged CALL_CONTACT_TAG and CALL_MARKER_TAG, so
    that `commit_with_call` recognises another invocation that recorded the call first.
    """
    if call_marker is not None:
        updates = [Contact.actions.add({action})]
        if case is not None:
            updates += [
                Contact.case_id.set(case.case_id),
                Contact.case_reference.set(case.reference),
            ]
        transaction.update(
            Contact(citizen_key(call_marker.citizen_id), call_marker.contact_sk),
            updates,
            tag=CALL_CONTACT_TAG,
            # Without the condition, an update of a missing contact would create a partial one.
            condition=Contact.pk.exists(),
        )
        return
    contact = new_call_contact(call, citizen_id, action, None, now)
    if case is not None:
        contact.case_id = case.case_id
        contact.case_reference = case.reference
    transaction.put_new(contact, tag=CALL_CONTACT_TAG)
    transaction.put_new(new_marker(VOICE, call.call_id, contact, now), tag=CALL_MARKER_TAG)


def commit_with_call(
    build: Callable[[DedupeMarker | None], Transaction],
    call_id: str,
    call_marker: DedupeMarker | None,
) -> None:
    """Commit `build(call_marker)`, rebuilt once when another invocation recorded the call first.

    Raises what Transaction.commit raises otherwise.
    """
    try:
        build(call_marker).commit()
    except TransactionConflictError as error:
        if call_marker is not None or CALL_MARKER_TAG not in error.tags:
            raise
        logger.info("call recorded meanwhile; adding the action to its contact")
        fresh = DedupeMarker.get(event_key(VOICE, call_id), "EVENT")
        build(fresh).commit()
