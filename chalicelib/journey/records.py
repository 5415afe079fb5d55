"""Builders of the items one recorded contact writes, shared by every channel."""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from chalicelib.clock import isoformat_z
from chalicelib.journey.models import OPEN, Identity
from chalicelib.settings import get_settings
from chalicelib.store.models import (
    Case,
    CaseReference,
    CitizenCase,
    CitizenProfile,
    Contact,
    DedupeMarker,
    EmailReference,
    IdentityLink,
    case_key,
    citizen_key,
    email_reference_key,
    event_key,
    identity_key,
    queue_key,
    reference_key,
)

SUBJECT_LENGTH = 120


def new_id() -> str:
    """Return a random 128-bit id as 32 hex digits."""
    return secrets.token_hex(16)


def contact_id_for(channel: str, external_id: str) -> str:
    """Derive a contact id from the channel's event id, so retries compute the same one."""
    digest = hashlib.sha256(f"{channel}\x00{external_id}".encode()).hexdigest()
    return digest[:32]


def contact_sort_key(occurred_at: datetime, contact_id: str) -> str:
    return f"CONTACT#{isoformat_z(occurred_at)}#{contact_id}"


def identity_entry(kind: str, value: str) -> str:
    """Return how a profile's identity sets name one identity: `<kind>#<value>`."""
    return f"{kind}#{value}"


def new_profile(
    citizen_id: str,
    language: str,
    channel: str,
    provisional: bool,
    now: datetime,
    first_name: str | None = None,
    full_name: str | None = None,
    identities: Iterable[Identity] = (),
) -> CitizenProfile:
    """Build a profile listing the identities whose `LINK` or `CLAIM#` items the caller writes."""
    stamp = isoformat_z(now)
    identities = list(identities)
    verified = {identity_entry(item.kind, item.value) for item in identities if item.verified}
    claimed = {identity_entry(item.kind, item.value) for item in identities if not item.verified}
    return CitizenProfile(
        citizen_key(citizen_id),
        "PROFILE",
        citizen_id=citizen_id,
        first_name=first_name,
        full_name=full_name,
        language=language,
        preferred_channel=channel,
        channels={channel},
        provisional=provisional,
        verified_identities=verified or None,
        claimed_identities=claimed or None,
        created_at=stamp,
        updated_at=stamp,
    )


def new_link(
    kind: str,
    value: str,
    citizen_id: str,
    channel: str,
    language: str,
    now: datetime,
    first_name: str | None = None,
) -> IdentityLink:
    """Build the owner link of a verified identity."""
    return IdentityLink(
        identity_key(kind, value),
        "LINK",
        kind=kind,
        value=value,
        citizen_id=citizen_id,
        verified=True,
        source_channel=channel,
        first_name=first_name,
        language=language,
        open_cases={},
        created_at=isoformat_z(now),
    )


def new_claim(
    kind: str, value: str, citizen_id: str, channel: str, language: str, now: datetime
) -> IdentityLink:
    """Build the claim of an identity a channel did not verify."""
    return IdentityLink(
        identity_key(kind, value),
        f"CLAIM#{citizen_id}",
        kind=kind,
        value=value,
        citizen_id=citizen_id,
        verified=False,
        source_channel=channel,
        language=language,
        open_cases={},
        created_at=isoformat_z(now),
    )


def new_case_items(
    case_id: str,
    reference: str,
    agency_id: str,
    citizen_id: str,
    channel: str,
    subject: str | None,
    now: datetime,
    session_id: str | None = None,
) -> tuple[Case, CaseReference, CitizenCase]:
    """Build a new open case with its reference and citizen link."""
    stamp = isoformat_z(now)
    case = Case(
        case_key(case_id),
        "CASE",
        case_id=case_id,
        reference=reference,
        agency_id=agency_id,
        citizen_id=citizen_id,
        status=OPEN,
        channel=channel,
        last_channel=channel,
        subject=(subject or "")[:SUBJECT_LENGTH] or None,
        opened_at=stamp,
        last_activity_at=stamp,
        contact_count=1,
        session_id=session_id,
        gsi1pk=queue_key(agency_id, OPEN),
        gsi1sk=f"{stamp}#{case_id}",
    )
    ref = CaseReference(
        reference_key(reference),
        "CASE",
        case_id=case_id,
        agency_id=agency_id,
        citizen_id=citizen_id,
    )
    link = CitizenCase(
        citizen_key(citizen_id),
        case_key(case_id),
        case_id=case_id,
        reference=reference,
        agency_id=agency_id,
        status=OPEN,
        opened_at=stamp,
    )
    return case, ref, link


def new_contact(
    *,
    contact_id: str,
    citizen_id: str,
    agency_id: str,
    channel: str,
    direction: str,
    kind: str,
    occurred_at: datetime,
    now: datetime,
    body: str | None = None,
    case_id: str | None = None,
    case_reference: str | None = None,
    external_id: str | None = None,
    session_id: str | None = None,
    identity_kind: str | None = None,
    identity_verified: bool = False,
    actions: set[str] | None = None,
    delivery_status: str | None = None,
    agent_id: str | None = None,
) -> Contact:
    return Contact(
        citizen_key(citizen_id),
        contact_sort_key(occurred_at, contact_id),
        contact_id=contact_id,
        citizen_id=citizen_id,
        agency_id=agency_id,
        channel=channel,
        direction=direction,
        kind=kind,
        body=body,
        case_id=case_id,
        case_reference=case_reference,
        external_id=external_id,
        session_id=session_id,
        identity_kind=identity_kind,
        identity_verified=identity_verified,
        actions=actions or None,
        delivery_status=delivery_status,
        agent_id=agent_id,
        occurred_at=isoformat_z(occurred_at),
        recorded_at=isoformat_z(now),
    )


def new_marker(
    channel: str,
    external_id: str,
    contact: Contact,
    now: datetime,
    case_opened: bool = False,
) -> DedupeMarker:
    """Build the marker that turns redeliveries of one event into no-ops."""
    ttl = timedelta(days=get_settings().dedupe_ttl_days)
    return DedupeMarker(
        event_key(channel, external_id),
        "EVENT",
        citizen_id=contact.citizen_id,
        contact_sk=contact.sk,
        contact_id=contact.contact_id,
        case_id=contact.case_id,
        case_reference=contact.case_reference,
        case_opened=case_opened,
        recorded_at=isoformat_z(now),
        expires_at=now + ttl,
    )


def new_email_reference(
    message_id: str,
    case_id: str,
    reference: str,
    agency_id: str,
    citizen_id: str,
    now: datetime,
    sender: Identity,
) -> EmailReference:
    """Build the pointer from a received email's Message-ID to its case, which threads replies.

    The pointer names the sender, because only the same sender may thread by a Message-ID
    that it chose itself.
    """
    return EmailReference(
        email_reference_key(message_id),
        "CASE",
        case_id=case_id,
        reference=reference,
        agency_id=agency_id,
        citizen_id=citizen_id,
        recorded_at=isoformat_z(now),
        direction="inbound",
        sender=sender.value,
        sender_verified=sender.verified,
    )
