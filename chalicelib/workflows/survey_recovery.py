"""The recovery case a low satisfaction rating opens for the agency's supervisors.

A recovery case is a new case of the same citizen and agency, of type "recovery",
linked both ways to the case that was rated. It joins the agency's open queue, and the
state machine then publishes the staff alert that this module builds. It is not put on
the citizen's identity links, so the citizen's next message still joins their own
case. Its id derives from the rated case and the survey's occurrence, so a redelivered
task finds the case it already opened instead of opening a second one.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from chalicelib.agencies import AgencyConfig
from chalicelib.clock import utc_now
from chalicelib.journey.records import new_case_items
from chalicelib.journey.references import format_reference, new_reference
from chalicelib.observability import logger
from chalicelib.store.models import Case, Survey, case_key
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import engine, survey_figures

RECOVERY = "recovery"
# Ratings of 1 and 2 open a recovery case.
LOW_RATING_MAX = 2
# The `type` of the staff alert, in its message and its `type` message attribute. The
# state machine also sets the attributes `agency` and `role` ("supervisor"), the
# names the complaint deadline alerts use, so one subscription filter serves both.
ALERT_TYPE = "low_satisfaction_rating"
# Attempts at a fresh case reference when a random one is already taken.
MAX_REFERENCE_ATTEMPTS = 3

_RECOVERY_CASE_TAG = "recovery case"
_REFERENCE_TAG = "reference"


def recovery_case_id(case_id: str, occurrence: int) -> str:
    """Return the id of the recovery case of one survey: 32 hex digits, like every case id."""
    return hashlib.sha256(f"{RECOVERY}\x00{case_id}\x00{int(occurrence)}".encode()).hexdigest()[:32]


def open_recovery_case(
    agency: AgencyConfig,
    case: Case,
    survey: Survey,
    rating: int,
    step_id: Callable[[str, int, str], str],
) -> dict:
    """Open the recovery case once, put it on the timeline of both cases, and return the alert.

    `step_id(case_id, occurrence, step)` names the timeline steps, as the survey's other
    steps are named. Raises TransactionConflictError when every fresh reference was taken.
    """
    occurrence = int(survey.occurrence)
    recovery_id = recovery_case_id(case.case_id, occurrence)
    recovery = None
    for attempt in range(1, MAX_REFERENCE_ATTEMPTS + 1):
        try:
            recovery = _write(agency, case, survey, rating, recovery_id, utc_now())
            break
        except TransactionConflictError as error:
            if _RECOVERY_CASE_TAG in error.tags:
                recovery = Case.get(case_key(recovery_id), "CASE")
                logger.info("recovery case already opened", extra={"case_id": case.case_id})
                break
            if _REFERENCE_TAG not in error.tags or attempt == MAX_REFERENCE_ATTEMPTS:
                raise

    _record_steps(case, recovery, rating, occurrence, step_id)
    logger.info(
        "recovery case opened",
        extra={"case_id": case.case_id, "recovery_case_id": recovery.case_id, "rating": rating},
    )
    return {
        "recovery_case_id": recovery.case_id,
        "recovery_case_reference": recovery.reference,
        "alert_subject": f"Low satisfaction rating ({rating}) on a case of {agency.agency_id}",
        "alert": json.dumps(_alert(agency, case, recovery, rating, occurrence), sort_keys=True),
    }


def _write(
    agency: AgencyConfig,
    case: Case,
    survey: Survey,
    rating: int,
    recovery_id: str,
    now: datetime,
) -> Case:
    subject = f"Recovery: rating {rating} for case {format_reference(case.reference)}"
    recovery, pointer, citizen_case = new_case_items(
        recovery_id,
        new_reference(),
        agency.agency_id,
        case.citizen_id,
        case.last_channel,
        subject,
        now,
    )
    recovery.case_type = RECOVERY
    recovery.linked_case_id = case.case_id
    recovery.contact_count = 0

    transaction = Transaction()
    transaction.put_new(recovery, tag=_RECOVERY_CASE_TAG)
    transaction.put_new(pointer, tag=_REFERENCE_TAG)
    transaction.put_new(citizen_case, tag="citizen case")
    transaction.update(
        Case(case_key(case.case_id), "CASE"),
        [Case.linked_case_id.set(recovery_id)],
        tag="rated case",
        condition=Case.pk.exists(),
    )
    transaction.update(
        Survey(survey.pk, survey.sk),
        [Survey.recovery_case_id.set(recovery_id)],
        tag="survey",
        condition=Survey.pk.exists(),
    )
    survey_figures.add_counts(transaction, agency, now, recovery=True)
    transaction.commit()
    return recovery


def _record_steps(
    case: Case,
    recovery: Case,
    rating: int,
    occurrence: int,
    step_id: Callable[[str, int, str], str],
) -> None:
    """Put the recovery on the rated case's timeline and its origin on the recovery case's."""
    engine.record_step(
        case,
        engine.SATISFACTION_SURVEY,
        "recovery_opened",
        external_id=step_id(case.case_id, occurrence, "recovery_opened"),
        body=f"Recovery case {format_reference(recovery.reference)} opened after rating {rating}",
    )
    engine.record_step(
        recovery,
        engine.SATISFACTION_SURVEY,
        "recovery_of",
        external_id=step_id(case.case_id, occurrence, "recovery_of"),
        body=f"Opened after rating {rating} of case {format_reference(case.reference)}",
    )


def _alert(agency: AgencyConfig, case: Case, recovery: Case, rating: int, occurrence: int) -> dict:
    """Return the staff alert: ids, references and the rating, and no personal data."""
    return {
        "type": ALERT_TYPE,
        "agency_id": agency.agency_id,
        "case_id": case.case_id,
        "case_reference": format_reference(case.reference),
        "recovery_case_id": recovery.case_id,
        "recovery_case_reference": format_reference(recovery.reference),
        "rating": rating,
        "survey_occurrence": occurrence,
    }
