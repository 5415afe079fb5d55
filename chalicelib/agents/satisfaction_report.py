"""The satisfaction report for supervisors: survey figures per local day of the agency.

A report reads one Query of the agency's day items (`survey_figures`), so its cost
grows with the number of days requested, up to `MAX_REPORT_DAYS`.
"""

from datetime import date

from chalicelib.agents.access import Agent
from chalicelib.agents.schemas import SatisfactionDayView, SatisfactionReport, SatisfactionTotals
from chalicelib.errors import ForbiddenError, ValidationError
from chalicelib.workflows import survey_figures
from chalicelib.workflows.survey_answers import RATINGS

# One year, leap day included.
MAX_REPORT_DAYS = 366


def satisfaction_report(
    agent: Agent, agency_id: str, first: date, last: date
) -> SatisfactionReport:
    """Return an agency's survey figures from `first` to `last`, both local dates, inclusive.

    Raises ForbiddenError for another agency's report, and ValidationError for a range
    that ends before it starts or spans more than MAX_REPORT_DAYS days.
    """
    if agency_id != agent.agency_id:
        raise ForbiddenError(
            f"reports of agency {agency_id!r} are not available to this token's agency",
            field="agency_id",
        )
    if last < first:
        raise ValidationError("query.to: must not be before query.from", field="query.to")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise ValidationError(
            f"query: the range spans more than {MAX_REPORT_DAYS} days; ask for a shorter one",
            field="query",
        )

    days = [_day_view(item) for item in survey_figures.read_days(agency_id, first, last)]
    return SatisfactionReport(
        agency_id=agency_id,
        timezone=agent.agency.timezone,
        from_date=first.isoformat(),
        to_date=last.isoformat(),
        totals=_totals(days),
        days=days,
    )


def _day_view(item) -> SatisfactionDayView:
    answers = int(item.answers or 0)
    score_sum = int(item.score_sum or 0)
    return SatisfactionDayView(
        day=item.day,
        surveys_sent=int(item.surveys_sent or 0),
        answers=answers,
        no_answer=int(item.no_answer or 0),
        score_sum=score_sum,
        average=_average(score_sum, answers),
        scores=survey_figures.score_counts(item),
        recoveries_opened=int(item.recoveries_opened or 0),
    )


def _totals(days: list[SatisfactionDayView]) -> SatisfactionTotals:
    answers = sum(day.answers for day in days)
    score_sum = sum(day.score_sum for day in days)
    return SatisfactionTotals(
        surveys_sent=sum(day.surveys_sent for day in days),
        answers=answers,
        no_answer=sum(day.no_answer for day in days),
        score_sum=score_sum,
        average=_average(score_sum, answers),
        scores={str(rating): sum(day.scores[str(rating)] for day in days) for rating in RATINGS},
        recoveries_opened=sum(day.recoveries_opened for day in days),
    )


def _average(score_sum: int, answers: int) -> float | None:
    return round(score_sum / answers, 2) if answers else None
