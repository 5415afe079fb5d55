"""An agency's satisfaction figures per local day: atomic counters, and reading them back.

Each survey event adds to the item of the agency's local date on which it happened:
a question sent, an answer with its score, a window that closed unanswered, a
recovery case opened. So an answer given on Tuesday to Monday's question counts on
Tuesday, and a day's average is over the answers received that day.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from chalicelib.agencies import AgencyConfig
from chalicelib.store.models import SatisfactionDay, agency_key, satisfaction_sort_key
from chalicelib.store.transactions import Transaction
from chalicelib.workflows.survey_answers import RATINGS

SCORE_ATTRIBUTES = {
    1: SatisfactionDay.score_1,
    2: SatisfactionDay.score_2,
    3: SatisfactionDay.score_3,
    4: SatisfactionDay.score_4,
    5: SatisfactionDay.score_5,
}


def local_day(agency: AgencyConfig, moment: datetime) -> str:
    """Return the agency's local date of `moment` as `YYYY-MM-DD`."""
    return moment.astimezone(ZoneInfo(agency.timezone)).date().isoformat()


def add_counts(
    transaction: Transaction,
    agency: AgencyConfig,
    moment: datetime,
    *,
    sent: bool = False,
    rating: int | None = None,
    no_answer: bool = False,
    recovery: bool = False,
) -> None:
    """Add one survey event to the agency's figures of the day, in `transaction`."""
    day = local_day(agency, moment)
    actions = [SatisfactionDay.agency_id.set(agency.agency_id), SatisfactionDay.day.set(day)]
    if sent:
        actions.append(SatisfactionDay.surveys_sent.add(1))
    if rating is not None:
        actions += [
            SatisfactionDay.answers.add(1),
            SatisfactionDay.score_sum.add(rating),
            SCORE_ATTRIBUTES[rating].add(1),
        ]
    if no_answer:
        actions.append(SatisfactionDay.no_answer.add(1))
    if recovery:
        actions.append(SatisfactionDay.recoveries_opened.add(1))
    item = SatisfactionDay(agency_key(agency.agency_id), satisfaction_sort_key(day))
    transaction.update(item, actions, tag="satisfaction figures")


def read_days(agency_id: str, first: date, last: date) -> list[SatisfactionDay]:
    """Return the agency's figures from `first` to `last` inclusive, oldest first, in one Query.

    Days without any survey event have no item and are left out.
    """
    lower = satisfaction_sort_key(first.isoformat())
    upper = satisfaction_sort_key(last.isoformat())
    return list(
        SatisfactionDay.query(
            agency_key(agency_id), SatisfactionDay.sk.between(lower, upper), consistent_read=False
        )
    )


def score_counts(day: SatisfactionDay) -> dict[str, int]:
    """Return how many answers of each score a day counts, as {"1": n, ..., "5": n}."""
    return {str(rating): int(getattr(day, f"score_{rating}") or 0) for rating in RATINGS}
