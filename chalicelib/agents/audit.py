"""Audit records: who read or changed which citizen's data, with what outcome and why.

Each agent API request writes exactly one record, as a structured log line whose
message is "audit", for successes and for refusals alike. A record contains ids and
fixed words only, never a phone number, email address, national id or message text.
In CloudWatch Logs Insights: `filter message = "audit" | fields actor, action, resource`.

Records go through a child of the operational logger that is fixed at INFO, so a
stage that raises POWERTOOLS_LOG_LEVEL (prod uses WARNING) still writes every
record, in the same JSON shape and with the same correlation id.
"""

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from aws_lambda_powertools import Logger

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

# A child logger has no handler of its own: its records propagate to the handler
# and formatter of `logger`, which carry the correlation id and appended keys, and
# Python's logging does not check the parent's level on the way.
# NOTE: Lambda's advanced logging controls (AWS_LAMBDA_LOG_LEVEL) override this
# level in powertools 3 and drop INFO lines when set above INFO, so leave them unset.
audit_logger = Logger(service=logger.service, child=True, level=logging.INFO)

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
    audit_logger.info(AUDIT_MESSAGE, extra=fields)


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


def validation_reason(error: ValidationError, known_fields: Collection[str]) -> str:
    """Return the audit reason of a validation failure: its code, and its field when known.

    The message and any other field name are left out, because they can repeat
    what the caller sent, such as an unknown body key that is a phone number.
    """
    if error.field is not None and error.field in known_fields:
        return f"{error.code}: {error.field}"
    return error.code


@contextmanager
def audited(record: AuditRecord, known_fields: Collection[str] = ()) -> Iterator[AuditRecord]:
    """Write `record` once the block ends, with the outcome of how it ended.

    `known_fields` are the request's own field names, which a validation failure's
    reason may name.
    """
    try:
        yield record
    except ValidationError as error:
        record.outcome = INVALID
        record.reason = validation_reason(error, known_fields)
        write(record)
        raise
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
