"""Delivery statuses of outbound messages: sent, failed, delivered or read, never backwards.

Providers report statuses out of order and more than once, and WhatsApp may send "read"
without "delivered". Each outbound contact stores the rank of its status
(`chalicelib.channels.whatsapp.status_rank`), and every update is conditional on a lower
stored rank, so duplicates and late arrivals change nothing. A failed status stores the
provider's error codes, and a later delivered or read removes them again, because the
message did arrive.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.channels.whatsapp import status_rank
from chalicelib.clock import isoformat_z
from chalicelib.journey.models import Identity
from chalicelib.observability import logger
from chalicelib.store.models import (
    Contact,
    IdentityLink,
    OutboundPointer,
    citizen_key,
    identity_key,
    outbound_key,
)

OUTBOUND = "outbound"
FAILED_RANK = status_rank("failed")
# How far before a Messenger watermark outbound messages are looked for. Meta allows a
# page's standard messages within 24 hours of the person's last message, so older
# messages were delivered or read long before.
WATERMARK_WINDOW = timedelta(days=7)


def outbound_pointer(channel: str, provider_message_id: str, contact: Contact) -> OutboundPointer:
    """Build the pointer from a provider's message id to its outbound contact.

    Write it in the same transaction as the contact, so that every status finds it.
    """
    return OutboundPointer(
        outbound_key(channel, provider_message_id),
        "CONTACT",
        citizen_id=contact.citizen_id,
        contact_sk=contact.sk,
    )


def record_status(
    channel: str,
    provider_message_id: str,
    status: str,
    occurred_at: datetime,
    error_codes: Iterable[int] = (),
) -> bool:
    """Set the status of the outbound message a provider's id names, unless it is not newer.

    Returns whether the contact changed. A status of a message this deployment did not
    send, or a status with an unknown name, is logged and ignored.
    """
    rank = status_rank(status)
    if rank == 0:
        logger.info("unknown delivery status ignored", extra={"channel": channel, "status": status})
        return False
    try:
        pointer = OutboundPointer.get(outbound_key(channel, provider_message_id), "CONTACT")
    except OutboundPointer.DoesNotExist:
        logger.info(
            "status of unknown message ignored",
            extra={"channel": channel, "provider_message_id": provider_message_id},
        )
        return False
    contact = Contact(citizen_key(pointer.citizen_id), pointer.contact_sk)
    return _update(contact, channel, status, rank, occurred_at, tuple(error_codes))


def record_watermark(
    channel: str, agency_id: str, recipient: Identity, status: str, watermark: datetime
) -> int:
    """Set `status` on every outbound message to `recipient` sent up to `watermark`.

    Messenger reports reads, and some deliveries, as a watermark without message ids.
    Returns how many contacts changed.
    """
    rank = status_rank(status)
    try:
        link = IdentityLink.get(identity_key(recipient.kind, recipient.value), "LINK")
    except IdentityLink.DoesNotExist:
        logger.info("watermark of unknown recipient ignored", extra={"channel": channel})
        return 0
    oldest = isoformat_z(watermark - WATERMARK_WINDOW)
    # Sort keys are `CONTACT#<time>#<id>`, and "~" sorts after every id character.
    newest = f"{isoformat_z(watermark)}#~"
    pending = Contact.query(
        citizen_key(link.citizen_id),
        Contact.sk.between(f"CONTACT#{oldest}", f"CONTACT#{newest}"),
        filter_condition=(Contact.channel == channel)
        & (Contact.direction == OUTBOUND)
        & (Contact.agency_id == agency_id)
        & (Contact.delivery_rank.does_not_exist() | (Contact.delivery_rank < rank)),
    )
    changed = 0
    for contact in pending:
        changed += _update(contact, channel, status, rank, watermark, ())
    return changed


def _update(
    contact: Contact,
    channel: str,
    status: str,
    rank: int,
    occurred_at: datetime,
    error_codes: tuple[int, ...],
) -> bool:
    actions = [
        Contact.delivery_status.set(status),
        Contact.delivery_rank.set(rank),
        Contact.delivery_status_at.set(isoformat_z(occurred_at)),
    ]
    if error_codes:
        actions.append(Contact.delivery_errors.set(set(error_codes)))
    if rank > FAILED_RANK:
        actions += [Contact.delivery_errors.remove(), Contact.error_code.remove()]
    # pk.exists() keeps a pointer whose contact is gone from creating a stray item.
    newer = Contact.delivery_rank.does_not_exist() | (Contact.delivery_rank < rank)
    try:
        contact.update(actions=actions, condition=Contact.pk.exists() & newer)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.info("stale delivery status ignored", extra={"channel": channel, "status": status})
        return False
    logger.info(
        "delivery status recorded",
        extra={"channel": channel, "status": status, "citizen_id": contact.citizen_id},
    )
    return True
