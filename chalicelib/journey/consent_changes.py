"""Consent keywords on SMS, WhatsApp and Messenger: opt a channel out or in, or reply to HELP.

A message whose whole text is a keyword (`consent.classify`) opens no case. Consent is
kept per agency and channel, as carriers and Meta keep opt-outs per sending number and
page. STOP, BAJA and the other opt-out words add `<agency id>#<channel>` to the
profile's `opt_outs`, START, ALTA and INICIO remove it, and both stamp the same key in
`consent_changed_at`. HELP and AYUDA change nothing and are answered with the receiving
agency's contact options. The keyword is recorded as a contact of kind "consent" with
its dedupe marker and the profile change, in one transaction. So a redelivered STOP is
recorded once and confirmed once, because only the delivery that commits sends the
confirmation.

A new STOP from a citizen already opted out of that agency's channel, or a START from
one already opted in, is recorded with `consent_changed` False and gets no reply. The
first START at an agency's channel is confirmed even when the citizen never opted out
there, because it is the first consent recorded for it.

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
    consent_key,
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
    """Record a consent keyword exactly once, apply it, and confirm a change once.

    HELP is answered every time. An opt-out or opt-in that changes nothing is recorded
    without a reply, so a citizen who repeats STOP is not sent the confirmation again.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            result, changed = _record_once(message, action, utc_now())
            break
        except DuplicateEventError:
            return _recorded_result(message)
        except TransactionConflictError as error:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.info("consent write retried", extra={"failed": error.tags, "attempt": attempt})
    logger.info(
        "consent keyword recorded",
        extra={
            "citizen_id": result.citizen_id,
            "consent_action": action,
            "consent_changed": changed,
        },
    )
    if action != consent.HELP and not changed:
        return result
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


def _record_once(
    message: InboundMessage, action: str, now: datetime
) -> tuple[InboundResult, bool | None]:
    """Write the keyword's contact, marker and consent change in one transaction.

    Returns the result and whether consent changed (None for HELP).
    """
    transaction = Transaction()
    sender = message.sender
    stamp = isoformat_z(now)
    agency_id = message.agency.agency_id
    key = consent_key(agency_id, message.channel)
    changed = None
    link = _owner_link(sender.kind, sender.value)
    if link is None:
        citizen_id = new_id()
        language = message.agency.default_language
        profile = new_profile(
            citizen_id, language, message.channel, provisional=False, now=now, identities=[sender]
        )
        if action != consent.HELP:
            changed = True
            profile.consent_changed_at = {key: stamp}
        if action == consent.OPT_OUT:
            profile.opt_outs = {key}
        transaction.put_new(profile, tag="profile")
        new = new_link(sender.kind, sender.value, citizen_id, message.channel, language, now)
        transaction.put_new(new, tag="identity link")
    else:
        citizen_id = link.citizen_id
        language = link.language or message.agency.default_language
        if action != consent.HELP:
            profile = CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
            changed = _changes_consent(profile, agency_id, message.channel, action)
            if changed:
                _change_consent(transaction, profile, key, action, stamp)
            else:
                # A keyword counts as changing nothing only if the profile is unchanged at commit.
                transaction.check(
                    profile, CitizenProfile.updated_at == profile.updated_at, tag="profile"
                )

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
    contact.consent_changed = changed
    transaction.put_new(contact, tag="contact")
    transaction.put_new(
        new_marker(message.channel, message.external_id, contact, now), tag="dedupe"
    )
    transaction.commit()
    result = InboundResult(
        contact_id=contact.contact_id,
        citizen_id=citizen_id,
        case_id=None,
        case_reference=None,
        case_opened=False,
        duplicate=False,
        language=language,
    )
    return result, changed


def _changes_consent(profile: CitizenProfile, agency_id: str, channel: str, action: str) -> bool:
    """Return whether an opt-out or opt-in changes the citizen's consent on the agency's channel.

    An opt-out changes it unless the agency's own opt-out is stored. An opt-out that only
    `opted_out_channels` covers is stored per agency, so that agency confirms it once.
    An opt-in changes it while the channel is opted out, or when no consent was ever
    recorded there.
    """
    if action == consent.OPT_OUT:
        return consent_key(agency_id, channel) not in (profile.opt_outs or set())
    if profile.is_opted_out(agency_id, channel):
        return True
    return profile.consent_changed_on(agency_id, channel) is None


def _change_consent(
    transaction: Transaction, profile: CitizenProfile, key: str, action: str, stamp: str
) -> None:
    """Add the profile's opt-out or opt-in of one agency's channel to the transaction.

    The whole `consent_changed_at` map is written, because DynamoDB cannot set a key of
    a map that does not exist yet, and profiles written before this attribute lack it.
    """
    changed_at = dict(profile.consent_changed_at.as_dict() if profile.consent_changed_at else {})
    changed_at[key] = stamp
    opt_outs = CitizenProfile.opt_outs
    change = opt_outs.add({key}) if action == consent.OPT_OUT else opt_outs.delete({key})
    transaction.update(
        CitizenProfile(profile.pk, "PROFILE"),
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
