"""A citizen's timeline for an agent: their agency's contacts, newest first, in pages.

Contacts live on each profile's partition, `CITIZEN#<id>` / `CONTACT#<utc ts>#<id>`,
so one page queries every profile of the group (the citizen and those merged into
it) backwards from the cursor and merges the results by sort key.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass

from chalicelib.agents.access import Agent
from chalicelib.agents.citizens import visible_group
from chalicelib.agents.schemas import CallLegView, CallView, TimelineEntry, TimelinePage
from chalicelib.errors import ValidationError
from chalicelib.journey.call_progress import legs_of, summarize
from chalicelib.journey.references import format_reference
from chalicelib.store.models import Contact, citizen_key

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
CURSOR_VERSION = 1

# Sorts after every `CONTACT#<utc ts>#<id>` key, so it bounds the first page.
_NEWEST = "CONTACT#~"
_SORT_KEY = re.compile(r"^CONTACT#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{32}$")
_CITIZEN_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_CURSOR_LENGTH = 512
_INVALID_CURSOR = "cursor: invalid; pass the next_cursor of the previous page unchanged"


@dataclass(frozen=True)
class Position:
    """The last contact of a page, by sort key and the profile whose partition contains it."""

    sort_key: str
    citizen_id: str

    def is_before(self, sort_key: str, citizen_id: str) -> bool:
        """Return whether a contact comes after this position in newest-first order."""
        return (sort_key, citizen_id) < (self.sort_key, self.citizen_id)


def timeline(agent: Agent, citizen_id: str, limit: int, cursor: str | None) -> TimelinePage:
    """Return one page of the agency's contacts with the citizen, newest first.

    Raises NotFoundError unless the agency serves the citizen, and ValidationError
    for a cursor that this endpoint did not issue for the same citizen and agency.
    """
    group = visible_group(agent, citizen_id)
    position = decode_cursor(cursor, citizen_id, agent.agency_id) if cursor else None

    contacts: list[Contact] = []
    for member in group.citizen_ids:
        contacts.extend(_older_contacts(member, agent.agency_id, position, limit + 1))
    contacts.sort(key=lambda contact: (contact.sk, contact.citizen_id), reverse=True)
    page = contacts[:limit]

    next_cursor = None
    if len(contacts) > limit:
        last = page[-1]
        next_cursor = encode_cursor(citizen_id, agent.agency_id, Position(last.sk, last.citizen_id))
    return TimelinePage(
        citizen_id=citizen_id,
        contacts=[_entry(contact) for contact in page],
        next_cursor=next_cursor,
    )


def _older_contacts(
    member: str, agency_id: str, position: Position | None, wanted: int
) -> list[Contact]:
    """Return up to `wanted` of the agency's contacts on one partition, after `position`."""
    upper = position.sort_key if position else _NEWEST
    # DynamoDB applies Limit before the filter, so one response can contain fewer
    # matches than requested while more exist. pynamodb's `limit` counts filtered
    # items and keeps following LastEvaluatedKey until it has them or the
    # partition ends. `between` is inclusive, hence one item more than wanted:
    # the contact at the cursor itself is dropped below.
    results = Contact.query(
        citizen_key(member),
        Contact.sk.between("CONTACT#", upper),
        filter_condition=Contact.agency_id == agency_id,
        scan_index_forward=False,
        limit=wanted + 1,
    )
    contacts = [
        contact
        for contact in results
        if position is None or position.is_before(contact.sk, contact.citizen_id)
    ]
    return contacts[:wanted]


def encode_cursor(citizen_id: str, agency_id: str, position: Position) -> str:
    """Return an opaque cursor naming the timeline it belongs to and its position.

    The cursor is not signed: editing it can only move within this agency's contacts
    with this citizen, which the agent may read page by page anyway, because every
    page applies the agency filter again.
    """
    document = {
        "v": CURSOR_VERSION,
        "citizen": citizen_id,
        "agency": agency_id,
        "sk": position.sort_key,
        "pk": position.citizen_id,
    }
    text = json.dumps(document, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, citizen_id: str, agency_id: str) -> Position:
    """Decode the position in a cursor; raises ValidationError unless it fits this timeline."""
    if len(cursor) > _MAX_CURSOR_LENGTH:
        raise ValidationError(_INVALID_CURSOR, field="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as error:
        raise ValidationError(_INVALID_CURSOR, field="cursor") from error
    if not isinstance(document, dict) or document.get("v") != CURSOR_VERSION:
        raise ValidationError(_INVALID_CURSOR, field="cursor")
    if document.get("citizen") != citizen_id or document.get("agency") != agency_id:
        raise ValidationError(
            "cursor: belongs to another timeline; start again without a cursor", field="cursor"
        )
    sort_key, member = document.get("sk"), document.get("pk")
    if not isinstance(sort_key, str) or not _SORT_KEY.match(sort_key):
        raise ValidationError(_INVALID_CURSOR, field="cursor")
    if not isinstance(member, str) or not _CITIZEN_ID.match(member):
        raise ValidationError(_INVALID_CURSOR, field="cursor")
    return Position(sort_key, member)


def _entry(contact: Contact) -> TimelineEntry:
    return TimelineEntry(
        contact_id=contact.contact_id,
        citizen_id=contact.citizen_id,
        channel=contact.channel,
        direction=contact.direction,
        kind=contact.kind,
        text=contact.body,
        case_id=contact.case_id,
        case_reference=format_reference(contact.case_reference) if contact.case_reference else None,
        occurred_at=contact.occurred_at,
        identity_kind=contact.identity_kind,
        identity_verified=bool(contact.identity_verified),
        delivery_status=contact.delivery_status,
        actions=sorted(contact.actions) if contact.actions else None,
        agent_id=contact.agent_id,
        consent_action=contact.consent_action,
        consent_changed=contact.consent_changed,
        call=_call(contact),
    )


def _call(contact: Contact) -> CallView | None:
    summary = summarize(legs_of(contact))
    if summary is None:
        return None
    legs = [
        CallLegView(
            contact_id=leg_id,
            **{name: leg.get(name) for name in CallLegView.model_fields if name != "contact_id"},
        )
        for leg_id, leg in summary.legs
    ]
    fields = {name: getattr(summary, name) for name in CallView.model_fields if name != "legs"}
    return CallView(**fields, legs=legs)
