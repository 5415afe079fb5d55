"""Inbound email in the journey: quarantine of failed checks, and replies threaded into cases.

A reply names the messages it replies to in its In-Reply-To and References headers. Every
email the agency receives or sends leaves an `EMAILREF#<Message-ID>` pointer to its case.
A reply to a sent email joins that case even from an address the agency has not seen. A
received email's Message-ID is chosen by its sender, so its pointer is never overwritten
and threads only later mail from the same address to the same agency.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib.clock import isoformat_z, utc_now
from chalicelib.journey.inbound import record_inbound
from chalicelib.journey.models import InboundMessage, InboundResult
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.models import (
    EmailReference,
    QuarantinedEmail,
    email_reference_key,
    quarantine_key,
)

# Quoted Message-IDs looked up per email, newest first; a long thread lists many more,
# and the newest ones are the likeliest to be known.
MAX_QUOTED_IDS = 20


def record_email(message: InboundMessage, quoted_message_ids: Sequence[str]) -> InboundResult:
    """Record an email, in the case of the first quoted message whose case is known.

    `quoted_message_ids` are the In-Reply-To id first, then the References ids newest
    first. A case reference in the subject takes precedence, as on every channel.
    """
    quoted = list(dict.fromkeys(quoted_message_ids))[:MAX_QUOTED_IDS]
    found = _read_pointers([*quoted, message.thread_id] if message.thread_id else quoted)
    if message.thread_id is not None and email_reference_key(message.thread_id) in found:
        # Another email already used this Message-ID, and its pointer is kept.
        logger.info(
            "email message id already recorded", extra={"agency_id": message.agency.agency_id}
        )
        message = replace(message, thread_id_recorded=True)
    pointer = _thread_case(message, quoted, found)
    if pointer is not None:
        logger.info("email threaded into case", extra={"case_id": pointer.case_id})
        message = replace(
            message, channel_case_id=pointer.case_id, channel_case_reference=pointer.reference
        )
    return record_inbound(message)


def quarantine(
    *,
    agency_id: str,
    ses_message_id: str,
    message_id: str | None,
    sender_domain: str,
    recipient: str,
    verdicts: Mapping[str, str | None],
    received_at: datetime,
) -> None:
    """Record an email whose spam or virus check failed, by its ids and verdicts only.

    Nothing reaches the timeline, and no case or profile is touched. A redelivery
    writes the same item again.
    """
    now = utc_now()
    ttl = timedelta(days=get_settings().quarantine_ttl_days)
    QuarantinedEmail(
        quarantine_key(ses_message_id),
        "EMAIL",
        agency_id=agency_id,
        ses_message_id=ses_message_id,
        message_id=message_id,
        sender_domain=sender_domain,
        recipient=recipient,
        verdicts={check: value for check, value in verdicts.items() if value is not None},
        received_at=isoformat_z(received_at),
        recorded_at=isoformat_z(now),
        expires_at=now + ttl,
    ).save()
    logger.info(
        "email quarantined",
        extra={"ses_message_id": ses_message_id, "sender_domain": sender_domain},
    )


def _read_pointers(message_ids: Sequence[str]) -> dict[str, EmailReference]:
    """Read the pointers of `message_ids` in one batch, by partition key."""
    if not message_ids:
        return {}
    keys = [(email_reference_key(message_id), "CASE") for message_id in dict.fromkeys(message_ids)]
    return {pointer.pk: pointer for pointer in EmailReference.batch_get(keys)}


def _thread_case(
    message: InboundMessage, quoted: Sequence[str], found: Mapping[str, EmailReference]
) -> EmailReference | None:
    """Return the pointer of the first quoted message that `message` may thread by."""
    for message_id in quoted:
        pointer = found.get(email_reference_key(message_id))
        if pointer is not None and _may_thread(message, pointer):
            return pointer
    return None


def _may_thread(message: InboundMessage, pointer: EmailReference) -> bool:
    """Check that a pointer is of this agency and, if written for a received email, this sender.

    The Message-ID of a received email was chosen by its sender, so anyone may quote it.
    Only the same address, verified as before, may thread by it. A sent email's id comes
    from SES, so any reply that quotes it joins its case.
    """
    if pointer.agency_id != message.agency.agency_id:
        return False
    if pointer.direction != "inbound":
        # NOTE: pointers without `direction` predate the field and are followed as sent
        # ones, although some of them were written for received emails.
        return True
    sender = message.sender
    return (
        sender is not None
        and pointer.sender == sender.value
        and bool(pointer.sender_verified) == sender.verified
    )
