"""Wait-time figures of the phone line, per agency, local day and queue.

Each `PhoneDay` row is kept with atomic ADDs, never rewritten from a scan, so that
figures stay right while many Lambda containers record at once. A day is the
agency's local date in its time zone. This module counts the contact flow's
choices (a callback requested, a caller sent to another channel), once per contact
and choice. chalicelib/reports/contact_records.py counts the contact records.
"""

import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.agencies import get_agency
from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.errors import DuplicateEventError, ValidationError
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.models import (
    IvrChoice,
    PhoneDay,
    ivr_choice_key,
    phone_report_key,
    phone_row_key,
)
from chalicelib.store.transactions import DEDUPE, Transaction, TransactionConflictError

CALLBACK_REQUESTED = "callback_requested"
DEFLECTED = "deflected"
# The counter each contact flow choice adds to.
IVR_CHOICES = {CALLBACK_REQUESTED: "callbacks", DEFLECTED: "deflected"}

# The queue id of contacts that reached no queue.
NO_QUEUE = "-"
MAX_QUEUE_ID_LENGTH = 256
MAX_CONTACT_ID_LENGTH = 256
# Writes that race with other transactions on the same row are tried this many times.
MAX_ATTEMPTS = 4


def queue_id_of(queue: str | None) -> str:
    """Return the row key of a queue: the id at the end of its ARN, or NO_QUEUE for None.

    A queue ARN is `arn:aws:connect:<region>:<account>:instance/<instance id>/queue/<id>`.
    A value that is not an ARN is used as it is.
    """
    if not queue:
        return NO_QUEUE
    queue_id = queue.rsplit("/queue/", 1)[-1] if queue.startswith("arn:") else queue
    if not queue_id or len(queue_id) > MAX_QUEUE_ID_LENGTH or "#" in queue_id:
        raise ValidationError("queue: expected a queue ARN or id without '#'", field="queue")
    return queue_id


def local_day(moment: datetime, timezone: str) -> str:
    """Return the date, YYYY-MM-DD, of a moment in an IANA time zone such as America/Lima."""
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def pause_before_retry(attempt: int) -> None:
    """Sleep a random 0 to 50 * 2**attempt ms, so that writers racing for one row spread out."""
    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret


def add_to_row(
    transaction: Transaction,
    agency_id: str,
    day: str,
    queue_id: str,
    amounts: dict[str, int],
    queue_arn: str | None = None,
    queue_name: str | None = None,
) -> None:
    """Add counter amounts, which may be negative, to one row, creating it if needed."""
    row = PhoneDay(phone_report_key(agency_id), phone_row_key(day, queue_id))
    actions = [
        PhoneDay.agency_id.set(agency_id),
        PhoneDay.day.set(day),
        PhoneDay.queue_id.set(queue_id),
    ]
    if queue_arn:
        actions.append(PhoneDay.queue_arn.set(queue_arn))
    if queue_name:
        actions.append(PhoneDay.queue_name.set(queue_name))
    actions += [
        getattr(PhoneDay, name).add(amount) for name, amount in sorted(amounts.items()) if amount
    ]
    transaction.update(row, actions, tag=f"figures {day} {queue_id}")


def record_ivr_choice(
    agency_id: str, queue: str | None, occurred_at: str, choice: str, contact_id: str
) -> None:
    """Count a contact flow choice in the figures, once per contact id and choice.

    `queue` is the queue's ARN as the contact flow event gives it
    (`ContactData.Queue.ARN`), or None before the contact has a queue. `occurred_at`
    is an ISO 8601 time with a zone, such as `2026-03-02T15:04:05Z`, whose local
    date in the agency's time zone is the day counted. `choice` is
    "callback_requested" or "deflected" (the caller was sent a link to another
    channel). Repeating a call with the same contact id and choice changes nothing.

    Raises ValidationError for an unknown choice or a malformed value, and
    NotFoundError for an unknown agency.
    """
    counter = IVR_CHOICES.get(choice)
    if counter is None:
        raise ValidationError(
            f"choice: expected one of {', '.join(sorted(IVR_CHOICES))}", field="choice"
        )
    if not contact_id or len(contact_id) > MAX_CONTACT_ID_LENGTH:
        raise ValidationError("contact_id: expected 1 to 256 characters", field="contact_id")
    try:
        moment = parse_utc(occurred_at)
    except (TypeError, ValueError) as error:
        raise ValidationError(
            "occurred_at: expected an ISO 8601 time with a zone", field="occurred_at"
        ) from error
    agency = get_agency(agency_id)
    queue_id = queue_id_of(queue)
    day = local_day(moment, agency.timezone)

    now = utc_now()
    marker = IvrChoice(
        ivr_choice_key(contact_id),
        f"CHOICE#{choice}",
        agency_id=agency_id,
        day=day,
        queue_id=queue_id,
        recorded_at=isoformat_z(now),
        expires_at=now + timedelta(days=get_settings().dedupe_ttl_days),
    )
    queue_arn = queue if queue and queue.startswith("arn:") else None
    for attempt in range(MAX_ATTEMPTS):
        transaction = Transaction()
        transaction.put_new(marker, tag=DEDUPE)
        add_to_row(transaction, agency_id, day, queue_id, {counter: 1}, queue_arn=queue_arn)
        try:
            transaction.commit()
        except DuplicateEventError:
            logger.info("ivr choice already counted", extra={"choice": choice, "day": day})
            return
        except TransactionConflictError:
            # Another transaction was writing the same row; the whole write is retried.
            if attempt == MAX_ATTEMPTS - 1:
                raise
            pause_before_retry(attempt)
            continue
        logger.info(
            "ivr choice counted", extra={"choice": choice, "day": day, "queue_id": queue_id}
        )
        return
