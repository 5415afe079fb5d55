"""Consent keywords on SMS, WhatsApp and Messenger: opt a channel out or in, or reply to HELP.

A message whose whole text is a keyword (`consent.classify`) opens no case. STOP, BAJA
and the other opt-out words add the channel to the profile's `opted_out_channels`,
START, ALTA and INICIO remove it, and both stamp the channel in `consent_changed_at`.
HELP and AYUDA change nothing and are answered with the agency's contact options. The
keyword is recorded as a contact of kind "consent" with its dedupe marker and the
profile change, in one transaction. So a redelivered STOP is recorded once and
confirmed once, because only the delivery that commits sends the confirmation.

NOTE: by default End User Messaging SMS answers HELP and STOP on a dedicated number
itself and keeps its own opt-out list. Agencies' numbers need self-managed opt-outs
(`SelfManagedOptOutsEnabled`), or a citizen gets two replies to one STOP.
"""

from datetime import datetime

from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import DuplicateEventError
from chalicelib.journey import consent
from chalicelib.journey.models import MESSENGER, SMS, WHATSAPP, InboundMessage, InboundResult
from chalicelib.journey.prompts import LANGUAGES
from chalicelib.journey.records import (
    contact_id_for,
    new_contact,
    new_id,
    new_link,
    new_marker,
    new_profile,
)
from chalicelib.notify import sender as notify
from chalicelib.observability import logger
from chalicelib.store.models import (
    CitizenProfile,
    DedupeMarker,
    IdentityLink,
    citizen_key,
    event_key,
    identity_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

# Channels whose carriers or platforms expect keyword opt-out. Web chat and email
# have their own ways to stop (closing the page, unsubscribing).
CONSENT_CHANNELS = frozenset({SMS, WHATSAPP, MESSENGER})
MAX_ATTEMPTS = 3


def keyword_of(message: InboundMessage) -> str | None:
    """Return "opt_out", "opt_in" or "help" when the message is a consent keyword, else None."""
    if message.channel not in CONSENT_CHANNELS or message.content_kind != "text":
        return None
    if message.sender is None or not message.sender.verified:
        return None
    return consent.classify(message.body)


def record_keyword(message: InboundMessage, action: str) -> InboundResult:
    """Record a consent keyword exactly once, apply it, and send its confirmation once."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            result = _record_once(message, action, utc_now())
            break
        except DuplicateEventError:
            return _recorded_result(message)
        except TransactionConflictError as error:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.info("consent write retried", extra={"failed": error.tags, "attempt": attempt})
    logger.info(
        "consent keyword recorded",
        extra={"citizen_id": result.citizen_id, "consent_action": action},
    )
    notify.send_text(
        agency=message.agency,
        channel=message.channel,
        citizen_id=result.citizen_id,
        to=message.sender,
        text=_confirmation(message, action, result.language),
        inbound_at=message.occurred_at,
        kind="consent",
        consent_action=action,
    )
    return result


def _record_once(message: InboundMessage, action: str, now: datetime) -> InboundResult:
    transaction = Transaction()
    sender = message.sender
    stamp = isoformat_z(now)
    link = _owner_link(sender.kind, sender.value)
    if link is None:
        citizen_id = new_id()
        language = message.agency.default_language
        profile = new_profile(
            citizen_id, language, message.channel, provisional=False, now=now, identities=[sender]
        )
        if action != consent.HELP:
            profile.consent_changed_at = {message.channel: stamp}
        if action == consent.OPT_OUT:
            profile.opted_out_channels = {message.channel}
        transaction.put_new(profile, tag="profile")
        new = new_link(sender.kind, sender.value, citizen_id, message.channel, language, now)
        transaction.put_new(new, tag="identity link")
    else:
        citizen_id = link.citizen_id
        language = link.language or message.agency.default_language
        if action != consent.HELP:
            _change_consent(transaction, citizen_id, message.channel, action, stamp)

    contact = new_contact(
        contact_id=contact_id_for(message.channel, message.external_id),
        citizen_id=citizen_id,
        agency_id=message.agency.agency_id,
        channel=message.channel,
        direction="inbound",
        kind="consent",
        occurred_at=message.occurred_at,
        now=now,
        body=message.body,
        external_id=message.external_id,
        identity_kind=sender.kind,
        identity_verified=sender.verified,
    )
    contact.consent_action = action
    transaction.put_new(contact, tag="contact")
    transaction.put_new(
        new_marker(message.channel, message.external_id, contact, now), tag="dedupe"
    )
    transaction.commit()
    return InboundResult(
        contact_id=contact.contact_id,
        citizen_id=citizen_id,
        case_id=None,
        case_reference=None,
        case_opened=False,
        duplicate=False,
        language=language,
    )


def _change_consent(
    transaction: Transaction, citizen_id: str, channel: str, action: str, stamp: str
) -> None:
    """Add the profile's opt-out or opt-in of `channel` to the transaction.

    The whole `consent_changed_at` map is written, because DynamoDB cannot set a key of
    a map that does not exist yet, and profiles written before this attribute lack it.
    """
    profile = CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    changed_at = dict(profile.consent_changed_at.as_dict() if profile.consent_changed_at else {})
    changed_at[channel] = stamp
    opted_out = CitizenProfile.opted_out_channels
    change = opted_out.add({channel}) if action == consent.OPT_OUT else opted_out.delete({channel})
    transaction.update(
        CitizenProfile(citizen_key(citizen_id), "PROFILE"),
        [
            change,
            CitizenProfile.consent_changed_at.set(changed_at),
            CitizenProfile.updated_at.set(stamp),
        ],
        tag="profile",
        condition=CitizenProfile.updated_at == profile.updated_at,
    )


def _confirmation(message: InboundMessage, action: str, language: str) -> str:
    if language not in LANGUAGES:
        language = message.agency.default_language
    contact_options = message.agency.contact_options or message.agency.name
    return consent.confirmation_text(action, language, contact_options=contact_options)


def _owner_link(kind: str, value: str) -> IdentityLink | None:
    try:
        return IdentityLink.get(identity_key(kind, value), "LINK")
    except IdentityLink.DoesNotExist:
        return None


def _recorded_result(message: InboundMessage) -> InboundResult:
    marker = DedupeMarker.get(event_key(message.channel, message.external_id), "EVENT")
    logger.info("duplicate consent keyword ignored", extra={"citizen_id": marker.citizen_id})
    return InboundResult(
        contact_id=marker.contact_id,
        citizen_id=marker.citizen_id,
        case_id=None,
        case_reference=None,
        case_opened=False,
        duplicate=True,
        language=message.language or message.agency.default_language,
    )
