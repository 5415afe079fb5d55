"""The channels a message to a citizen may take, in order, and where each one reaches them.

Only channel-verified identities from the profile and the case's own chat session are
used. A phone or email typed into a form is a claim, so nothing about a case is sent
there. A channel the citizen opted out of at the sending agency is passed over, except
by the reply that confirms a consent keyword on that same channel. An opt-out at
another agency's number or page does not count.
"""

from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import parse_utc, utc_now
from chalicelib.journey.models import CHAT, EMAIL, MESSENGER, SMS, WHATSAPP, Identity
from chalicelib.notify.attempts import NO_IDENTITY, NO_SESSION, OPTED_OUT
from chalicelib.store.models import (
    ChatSession,
    CitizenProfile,
    IdentityLink,
    chat_key,
    identity_key,
)

# Channels tried after the first choice and the profile's preferred channel. WhatsApp
# and Messenger come first because citizens reply there, SMS next because it reaches
# any phone, then email, and web chat last because a citizen sees it only in the open page.
FALLBACK_ORDER = (WHATSAPP, MESSENGER, SMS, EMAIL, CHAT)
# The identity kind that reaches a citizen on each channel.
IDENTITY_KINDS = {SMS: "phone", WHATSAPP: "whatsapp", MESSENGER: "messenger", EMAIL: "email"}
# Channels whose identities are phone numbers in E.164: WhatsApp ids are the number.
PHONE_CHANNELS = frozenset({SMS, WHATSAPP})


@dataclass(frozen=True)
class Route:
    """A channel and where on it the citizen is reached: an identity or a chat session."""

    channel: str
    identity: Identity | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class Skip:
    """A channel passed over, and why."""

    channel: str
    reason: str


@dataclass(frozen=True)
class LinkState:
    """The identity link's record of the identity's last message to one agency."""

    last_inbound_at: datetime | None = None
    case_id: str | None = None
    last_message_id: str | None = None


def channel_order(first: str | None, preferred: str | None, fallback: bool) -> list[str]:
    """Return the channels to try: the first choice, then, with fallback, the others."""
    order = [first] if first else []
    if fallback or not first:
        order += [preferred, *FALLBACK_ORDER]
    return list(dict.fromkeys(channel for channel in order if channel))


def route_for(
    channel: str,
    agency_id: str,
    profile: CitizenProfile | None,
    first: Route | None,
    session_id: str | None,
    consent_reply: bool,
    phone: str | None = None,
) -> Route | Skip:
    """Return where `channel` reaches the citizen for the agency, or why it cannot.

    `phone`, when set, is where SMS and WhatsApp go even if it is only a claim. Callers
    set it only for a text that contains nothing about a case.
    """
    opted_out = profile is not None and profile.is_opted_out(agency_id, channel)
    if opted_out and not consent_reply:
        return Skip(channel, OPTED_OUT)
    if phone is not None and channel in PHONE_CHANNELS:
        kind = IDENTITY_KINDS[channel]
        entry = f"{kind}#{phone}"
        verified = profile is not None and entry in (profile.verified_identities or set())
        return Route(channel, identity=Identity(kind, phone, verified=verified))
    if channel not in IDENTITY_KINDS and channel != CHAT:
        # Nothing here sends on a Connect chat or a call, whatever identity reached it.
        return Skip(channel, NO_IDENTITY)
    if first is not None and first.channel == channel:
        if first.identity is not None:
            if not first.identity.verified:
                return Skip(channel, NO_IDENTITY)
            return first
        session_id = first.session_id or session_id
    if channel == CHAT:
        if session_id and _session_is_live(session_id):
            return Route(CHAT, session_id=session_id)
        return Skip(CHAT, NO_SESSION)
    identity = verified_identity(profile, channel)
    if identity is None:
        return Skip(channel, NO_IDENTITY)
    return Route(channel, identity=identity)


def verified_identity(profile: CitizenProfile | None, channel: str) -> Identity | None:
    """Return the profile's verified identity on a channel, the first in sorted order."""
    kind = IDENTITY_KINDS.get(channel)
    if profile is None or kind is None:
        return None
    prefix = f"{kind}#"
    values = sorted(
        entry.removeprefix(prefix)
        for entry in (profile.verified_identities or set())
        if entry.startswith(prefix)
    )
    # NOTE: with several verified values of one kind the first in sorted order is used,
    # because the profile does not record which one the citizen uses most.
    return Identity(kind, values[0], verified=True) if values else None


def link_state(identity: Identity, agency_id: str) -> LinkState:
    """Read an identity's link for the time and id of its last message to the agency."""
    try:
        link = IdentityLink.get(identity_key(identity.kind, identity.value), "LINK")
    except IdentityLink.DoesNotExist:
        return LinkState()
    entries = link.open_cases.as_dict() if link.open_cases else {}
    entry = entries.get(agency_id) or {}
    stamp = entry.get("last_inbound_at")
    return LinkState(
        last_inbound_at=parse_utc(stamp) if stamp else None,
        case_id=entry.get("case_id"),
        last_message_id=entry.get("last_message_id"),
    )


def _session_is_live(session_id: str) -> bool:
    try:
        session = ChatSession.get(chat_key(session_id), "SESSION")
    except ChatSession.DoesNotExist:
        return False
    return session.expires_at is None or session.expires_at > utc_now()
