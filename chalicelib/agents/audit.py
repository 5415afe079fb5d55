"""Audit records: who read or changed which citizen's data, with what outcome and why.

Each agent API request writes exactly one record, as a structured log line whose
message is "audit", for successes and for refusals alike. A record contains ids and
fixed words only, never a phone number, email address, national id or message text.
In CloudWatch Logs Insights: `filter message = "audit" | fields actor, action, resource`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from chalicelib.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
    VentanillaError,
)
from chalicelib.observability import logger

AUDIT_MESSAGE = "audit"

SUCCESS = "success"
DENIED = "denied"
NOT_FOUND = "not_found"
INVALID = "invalid"
CONFLICT = "conflict"
ERROR = "error"


@dataclass
class AuditRecord:
    """One audited action, filled in while the request runs."""

    # The token's `sub`, or None when no token could be verified.
    actor: str | None
    action: str
    resource: str
    # The role that granted the action, or every role the token holds when none did.
    role: str | None = None
    agency: str | None = None
    outcome: str | None = None
    reason: str | None = None
    citizen_id: str | None = None
    citizen_ids: list[str] = field(default_factory=list)
    case_id: str | None = None


def write(record: AuditRecord) -> None:
    fields = {key: value for key, value in asdict(record).items() if value not in (None, [])}
    logger.info(AUDIT_MESSAGE, extra=fields)


def outcome_of(error: Exception) -> str:
    """Return the outcome word of a failed action."""
    if isinstance(error, (UnauthorizedError, ForbiddenError)):
        return DENIED
    if isinstance(error, NotFoundError):
        return DENIED if getattr(error, "audit_reason", None) else NOT_FOUND
    if isinstance(error, ValidationError):
        return INVALID
    if isinstance(error, ConflictError):
        return CONFLICT
    return ERROR


@contextmanager
def audited(record: AuditRecord) -> Iterator[AuditRecord]:
    """Write `record` once the block ends, with the outcome of how it ended."""
    try:
        yield record
    except VentanillaError as error:
        record.outcome = outcome_of(error)
        record.reason = getattr(error, "audit_reason", None) or error.message
        write(record)
        raise
    except Exception:
        record.outcome = ERROR
        record.reason = "internal error"
        write(record)
        raise
    record.outcome = SUCCESS
    write(record)
