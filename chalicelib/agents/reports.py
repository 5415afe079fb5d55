"""Reports for supervisors: the agency's cases past or near their response deadline.

Every case whose deadline runs or failed has one `DeadlineEntry` under
`AGENCY#<id>#DEADLINES`, sorted by due time (workflows/complaints.py writes it with
the case), so a page of the report is one Query that stops at the horizon.
"""

import re
from datetime import timedelta

from chalicelib.agents.access import Agent
from chalicelib.agents.schemas import DeadlineReport, DeadlineReportEntry
from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.errors import ValidationError
from chalicelib.journey.references import format_reference
from chalicelib.store.models import DeadlineEntry, deadlines_key

DEFAULT_WITHIN_HOURS = 24
MAX_WITHIN_HOURS = 24 * 90
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# A cursor is the sort key of the last entry of the previous page.
_CURSOR = re.compile(r"^DUE#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{32}$")


def deadline_report(agent: Agent, within_hours: int, limit: int, cursor: str | None):
    """Return one page of the agency's running deadlines due within `within_hours`, soonest first.

    Raises ValidationError for a cursor that is not a `next_cursor` of this report.
    """
    now = utc_now()
    horizon = f"DUE#{isoformat_z(now + timedelta(hours=within_hours))}"
    partition = deadlines_key(agent.agency_id)
    start_key = None
    if cursor is not None:
        if not _CURSOR.fullmatch(cursor):
            raise ValidationError(
                "cursor: invalid; pass the next_cursor of the previous page unchanged",
                field="cursor",
            )
        start_key = {"pk": {"S": partition}, "sk": {"S": cursor}}

    results = DeadlineEntry.query(
        partition, DeadlineEntry.sk < horizon, limit=limit, last_evaluated_key=start_key
    )
    entries = list(results)
    next_cursor = entries[-1].sk if len(entries) == limit and results.last_evaluated_key else None
    return DeadlineReport(
        agency_id=agent.agency_id,
        as_of=isoformat_z(now),
        within_hours=within_hours,
        cases=[
            DeadlineReportEntry(
                case_id=entry.case_id,
                reference=format_reference(entry.reference),
                case_type=entry.case_type,
                due_at=entry.due_at,
                overdue=parse_utc(entry.due_at) <= now,
                escalation_level=int(entry.escalation_level or 0),
                assigned_agent_id=entry.assigned_agent_id,
                deadline_status=entry.status or "running",
            )
            for entry in entries
        ],
        next_cursor=next_cursor,
    )
