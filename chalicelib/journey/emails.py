"""Inbound email in the journey: quarantine of failed checks, and replies threaded into cases.

A reply names the messages it replies to in its In-Reply-To and References headers. Every
email the agency receives or sends leaves an `EMAILREF#<Message-ID>` pointer to its case,
so a reply joins that case even from an address the agency has not seen.
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
    pointer = _thread_case(message.agency.agency_id, quoted_message_ids)
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


def _thread_case(agency_id: str, quoted_message_ids: Sequence[str]) -> EmailReference | None:
    """Return the pointer of the first quoted message of this agency that has one."""
    quoted = list(dict.fromkeys(quoted_message_ids))[:MAX_QUOTED_IDS]
    if not quoted:
        return None
    keys = [(email_reference_key(message_id), "CASE") for message_id in quoted]
    found = {pointer.pk: pointer for pointer in EmailReference.batch_get(keys)}
    for message_id in quoted:
        pointer = found.get(email_reference_key(message_id))
        if pointer is not None and pointer.agency_id == agency_id:
            return pointer
    return None
