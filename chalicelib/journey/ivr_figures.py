"""The contact flow choices counted in the phone figures: callbacks and deflected callers."""

from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from chalicelib.clock import isoformat_z
from chalicelib.errors import VentanillaError
from chalicelib.journey.calls import Call
from chalicelib.observability import logger
from chalicelib.reports import phone

CALLBACK_REQUESTED = phone.CALLBACK_REQUESTED
DEFLECTED = phone.DEFLECTED


def count_choice(call: Call, choice: str, occurred_at: datetime) -> None:
    """Count one choice of a call in its queue's figures, logging instead of raising.

    The choice took effect before it is counted (the callback is scheduled, the link
    sent), so a failure here must not turn the caller's answer into an error. The
    figures count a choice once per call, whichever leg repeats it.
    """
    try:
        phone.record_ivr_choice(
            call.agency.agency_id, call.queue_arn, isoformat_z(occurred_at), choice, call.call_id
        )
    except (VentanillaError, PynamoDBException) as error:
        logger.warning(
            "ivr choice not counted", extra={"choice": choice, "error_type": type(error).__name__}
        )
