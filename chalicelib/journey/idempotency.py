"""Claiming an event's dedupe marker before a send that cannot be undone."""

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.clock import isoformat_z
from chalicelib.settings import get_settings
from chalicelib.store.models import DedupeMarker


def claim(
    key: str,
    citizen_id: str,
    now: datetime,
    case_id: str | None = None,
    case_reference: str | None = None,
) -> bool:
    """Write the marker `key` / `EVENT` naming no contact yet; return False when it exists.

    The marker names its contact once the send is recorded, so a retry that arrives
    meanwhile can tell "still sending" from "sent".
    """
    marker = DedupeMarker(
        key,
        "EVENT",
        citizen_id=citizen_id,
        contact_sk="",
        contact_id="",
        case_id=case_id,
        case_reference=case_reference,
        recorded_at=isoformat_z(now),
        expires_at=now + timedelta(days=get_settings().dedupe_ttl_days),
    )
    try:
        marker.save(condition=DedupeMarker.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
