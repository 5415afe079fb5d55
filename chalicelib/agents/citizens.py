"""Find citizens and read their profiles, limited to what an agent of one agency may see.

A deployment serves every agency of a government and each citizen has one
profile in it, but an agent may only see citizens their own agency serves: one
with a case or a contact at that agency. Every other citizen does not exist for
them, in search results and on direct reads alike, so that a government's agents
cannot browse every resident. A profile includes the profiles merged into it.
"""

import contextlib
from dataclasses import dataclass

from chalicelib.agents.access import Agent, HiddenError
from chalicelib.agents.schemas import (
    CaseSummary,
    IdentityView,
    OtherAgencyCase,
    ProfileView,
    SearchMatch,
    SearchResult,
)
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.identity.national_ids import NationalIdError, normalize_national_id
from chalicelib.identity.phones import PhoneNumberError, normalize_phone
from chalicelib.journey.models import OPEN_STATUSES
from chalicelib.journey.references import format_reference, parse_reference
from chalicelib.store.models import (
    CaseReference,
    CitizenCase,
    CitizenProfile,
    Contact,
    IdentityLink,
    citizen_key,
    identity_key,
    reference_key,
)

PHONE = "phone"
EMAIL = "email"
NATIONAL_ID = "national_id"
CASE_REFERENCE = "case_reference"
SEARCH_KINDS = (PHONE, EMAIL, NATIONAL_ID, CASE_REFERENCE)

# Profiles read through `merged_from`, the requested one included. Each web chat
# starts a provisional profile, so a frequent citizen can collect many merges.
# NOTE: profiles past this bound are left out of the profile and the timeline.
MAX_GROUP_SIZE = 50
# Claims of provisional profiles read per search, besides the identity's owner link.
# NOTE: claimants past this bound are left out of the results. The query returns the
# lowest citizen ids, so which claimants those are is arbitrary, not the oldest.
MAX_SEARCH_CLAIMS = 50
# Items DynamoDB evaluates per request when a filter may discard most of them.
FILTERED_PAGE_SIZE = 100

VISIBLE_REASON = "citizen has a case or contact at the agent's agency"


@dataclass(frozen=True)
class CitizenGroup:
    """A citizen's profile with the profiles merged into it, and all their cases."""

    profile: CitizenProfile
    # The requested citizen's profile first, then the profiles merged into it.
    profiles: list[CitizenProfile]
    cases: list[CitizenCase]

    @property
    def citizen_ids(self) -> list[str]:
        return [member.citizen_id for member in self.profiles]


def search(agent: Agent, kind: str, raw_value: str) -> SearchResult:
    """Return the citizens the agent's agency serves that match one identifier."""
    if kind == CASE_REFERENCE:
        candidates = _by_reference(agent, raw_value)
    else:
        value = _normalize(kind, raw_value, agent.agency.country)
        candidates = _by_identity(kind, value)
    matches = []
    for citizen_id, match in candidates.items():
        group = _group(citizen_id)
        if group is None or not _serves(agent, group):
            continue
        profile = group.profile
        matches.append(
            SearchMatch(
                citizen_id=citizen_id,
                match=match,
                first_name=profile.first_name,
                full_name=profile.full_name,
                provisional=bool(profile.provisional),
                merged_into=profile.merged_into,
            )
        )
    agent.audit.citizen_ids = [match.citizen_id for match in matches]
    agent.audit.reason = f"search by {kind}; results limited to citizens the agency serves"
    return SearchResult(kind=kind, matches=matches)


def visible_group(agent: Agent, citizen_id: str) -> CitizenGroup:
    """Return the citizen's group; raises NotFoundError unless the agent's agency serves them."""
    agent.audit.citizen_id = citizen_id
    group = _group(citizen_id)
    if group is None:
        raise NotFoundError(f"citizen {citizen_id!r} not found", field="citizen_id")
    if not _serves(agent, group):
        raise HiddenError(
            f"citizen {citizen_id!r} not found",
            audit_reason="citizen has no case or contact at the agent's agency",
            field="citizen_id",
        )
    agent.audit.citizen_ids = group.citizen_ids if len(group.citizen_ids) > 1 else []
    agent.audit.reason = VISIBLE_REASON
    return group


def profile(agent: Agent, citizen_id: str) -> ProfileView:
    """Return the citizen's profile, identities and cases as the agent may see them."""
    group = visible_group(agent, citizen_id)
    item = group.profile
    own = [case for case in group.cases if case.agency_id == agent.agency_id]
    own.sort(key=lambda case: case.opened_at, reverse=True)
    own.sort(key=lambda case: case.status not in OPEN_STATUSES)
    others = [case for case in group.cases if case.agency_id != agent.agency_id]
    return ProfileView(
        citizen_id=citizen_id,
        first_name=item.first_name,
        full_name=item.full_name,
        language=item.language,
        preferred_channel=item.preferred_channel,
        channels=sorted(item.channels or ()),
        provisional=bool(item.provisional),
        merged_into=item.merged_into,
        merged_from=sorted(item.merged_from or ()),
        identities=_identities(group.profiles),
        cases=[
            CaseSummary(
                case_id=case.case_id,
                reference=format_reference(case.reference),
                status=case.status,
                opened_at=case.opened_at,
                citizen_id=case.pk.removeprefix("CITIZEN#"),
            )
            for case in own
        ],
        other_agency_cases=[
            OtherAgencyCase(
                agency_id=case.agency_id,
                reference=format_reference(case.reference),
                status=case.status,
            )
            for case in sorted(others, key=lambda case: case.opened_at, reverse=True)
        ],
    )


def _normalize(kind: str, raw: str, country: str) -> str:
    """Normalize an identifier the way the channels store it; raises ValidationError."""
    try:
        if kind == PHONE:
            return normalize_phone(raw, country)
        if kind == NATIONAL_ID:
            return normalize_national_id(raw)
    except (PhoneNumberError, NationalIdError) as error:
        raise ValidationError(f"{kind}: {error}", field=kind) from error
    # The same form as emails claimed in a chat: trimmed and lower-cased.
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(character.isspace() for character in email):
        raise ValidationError(
            "email: expected an email address such as name@example.org", field=EMAIL
        )
    return email


def _by_identity(kind: str, value: str) -> dict[str, str]:
    """Return the citizens holding an identity, verified owner first, then claimants.

    The owner's `LINK` is read on its own, because `CLAIM#` sort keys come before
    it and any number of chat sessions can claim an identity.
    """
    pk = identity_key(kind, value)
    candidates: dict[str, str] = {}
    with contextlib.suppress(IdentityLink.DoesNotExist):
        candidates[IdentityLink.get(pk, "LINK").citizen_id] = "verified"
    claims = IdentityLink.query(pk, IdentityLink.sk.startswith("CLAIM#"), limit=MAX_SEARCH_CLAIMS)
    for claim in sorted(claims, key=lambda item: item.created_at):
        candidates.setdefault(claim.citizen_id, "claimed")
    return candidates


def _by_reference(agent: Agent, raw: str) -> dict[str, str]:
    reference = parse_reference(raw)
    if reference is None:
        raise ValidationError(
            "case_reference: expected nine digits with a valid check digit, such as 482-193-057",
            field=CASE_REFERENCE,
        )
    try:
        pointer = CaseReference.get(reference_key(reference), "CASE")
    except CaseReference.DoesNotExist:
        return {}
    # Another agency's reference finds nothing, exactly like an unknown one.
    if pointer.agency_id != agent.agency_id:
        return {}
    return {pointer.citizen_id: "case_reference"}


def _group(citizen_id: str) -> CitizenGroup | None:
    """Return a profile with the profiles merged into it and their cases, or None if missing."""
    profile = _profile(citizen_id)
    if profile is None:
        return None
    profiles = [profile]
    pending = sorted(profile.merged_from or ())
    while pending and len(profiles) < MAX_GROUP_SIZE:
        merged = _profile(pending.pop(0))
        if merged is None or any(seen.citizen_id == merged.citizen_id for seen in profiles):
            continue
        profiles.append(merged)
        pending.extend(sorted(merged.merged_from or ()))
    cases = [
        case
        for member in profiles
        for case in CitizenCase.query(
            citizen_key(member.citizen_id), CitizenCase.sk.startswith("CASE#")
        )
    ]
    return CitizenGroup(profile, profiles, cases)


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def _serves(agent: Agent, group: CitizenGroup) -> bool:
    """Return whether the agent's agency has a case or a contact with anyone in the group."""
    if any(case.agency_id == agent.agency_id for case in group.cases):
        return True
    for member in group.citizen_ids:
        contacts = Contact.query(
            citizen_key(member),
            Contact.sk.startswith("CONTACT#"),
            filter_condition=Contact.agency_id == agent.agency_id,
            limit=1,
            page_size=FILTERED_PAGE_SIZE,
        )
        if next(iter(contacts), None) is not None:
            return True
    return False


def _identities(profiles: list[CitizenProfile]) -> list[IdentityView]:
    """Read the identity items the profiles list, in one BatchGetItem per 100 keys.

    A listed `LINK` counts only while it still names the profile, and a claim is
    left out when the same profile owns that identity verified.
    """
    keys = []
    for member in profiles:
        verified = set(member.verified_identities or ())
        keys += [(_identity_pk(entry), "LINK") for entry in sorted(verified)]
        keys += [
            (_identity_pk(entry), f"CLAIM#{member.citizen_id}")
            for entry in sorted(set(member.claimed_identities or ()) - verified)
        ]
    items = IdentityLink.batch_get(keys) if keys else []
    members = {member.citizen_id for member in profiles}
    views = [
        IdentityView(
            kind=item.kind,
            value=item.value,
            verified=item.sk == "LINK",
            source_channel=item.source_channel,
            since=item.created_at,
            citizen_id=item.citizen_id,
        )
        for item in items
        if item.citizen_id in members
    ]
    views.sort(key=lambda view: (not view.verified, view.kind, view.since, view.value))
    return views


def _identity_pk(entry: str) -> str:
    kind, _, value = entry.partition("#")
    return identity_key(kind, value)
