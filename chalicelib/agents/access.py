"""Who may do what in the agent API, and the signed-in agent a request acts as.

Roles come from the token's Cognito groups. Reading citizens' data and replying to
them is the work of agents and supervisors. Auditors read the audit trail in
CloudWatch Logs and admins manage users and agency settings. Neither needs
citizens' data, so the agent API rejects both with 403. Reports contain figures and
no citizen data: supervisors read their own agency's, and analysts every agency's.
"""

import time
from dataclasses import dataclass

from chalicelib.agencies import AgencyConfig, get_agency
from chalicelib.agents.audit import AuditRecord
from chalicelib.auth.principal import LEEWAY_SECONDS, Principal
from chalicelib.errors import ForbiddenError, NotFoundError, UnauthorizedError

SEARCH_CITIZENS = "citizen.search"
READ_CITIZEN = "citizen.read"
READ_TIMELINE = "citizen.timeline"
READ_CASE = "case.read"
REPLY_TO_CASE = "case.reply"
LIST_APPOINTMENTS = "appointment.list"
CHANGE_APPOINTMENT = "appointment.change"
UPDATE_CASE = "case.update"
READ_DEADLINE_REPORT = "report.deadlines"
READ_PHONE_REPORT = "report.phone"
READ_SATISFACTION_REPORT = "report.satisfaction"

# Roles allowed each action, in the order the audit record names the granting one.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    SEARCH_CITIZENS: ("agent", "supervisor"),
    READ_CITIZEN: ("agent", "supervisor"),
    READ_TIMELINE: ("agent", "supervisor"),
    READ_CASE: ("agent", "supervisor"),
    REPLY_TO_CASE: ("agent", "supervisor"),
    LIST_APPOINTMENTS: ("agent", "supervisor"),
    CHANGE_APPOINTMENT: ("agent", "supervisor"),
    UPDATE_CASE: ("agent", "supervisor"),
    READ_DEADLINE_REPORT: ("supervisor",),
    READ_PHONE_REPORT: ("supervisor", "analyst"),
    READ_SATISFACTION_REPORT: ("supervisor",),
}
# Roles that read the reports of every agency, not only of the agency in their token.
CROSS_AGENCY_ROLES = frozenset({"analyst"})


class HiddenError(NotFoundError):
    """A resource that exists but belongs to another agency.

    The caller gets the same 404 as for a missing resource, so nothing leaks
    across agencies, and the audit record keeps the real reason.
    """

    def __init__(self, message: str, audit_reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.audit_reason = audit_reason


@dataclass
class Agent:
    """The signed-in person a request acts as, their agency, and the request's audit record."""

    principal: Principal
    agency: AgencyConfig
    audit: AuditRecord

    @property
    def agency_id(self) -> str:
        return self.agency.agency_id


def authorize(principal: Principal, action: str, record: AuditRecord) -> Agent:
    """Check that the principal may perform `action` now, for a configured agency.

    Raises UnauthorizedError for a token that expired after the authorizer's
    result was cached, and ForbiddenError for a missing role or agency.
    """
    if principal.expires_at + LEEWAY_SECONDS < time.time():
        raise UnauthorizedError("token has expired; sign in again")
    allowed = PERMISSIONS[action]
    granting = next((role for role in allowed if role in principal.roles), None)
    if granting is None:
        raise ForbiddenError(f"{action} requires one of the roles {', '.join(allowed)}")
    record.role = granting
    if principal.agency_id is None:
        raise ForbiddenError("token has no custom:agency_id; ask an administrator to set it")
    try:
        agency = get_agency(principal.agency_id)
    except NotFoundError as error:
        raise ForbiddenError(
            f"agency {principal.agency_id!r} of this token is not configured in this deployment"
        ) from error
    return Agent(principal, agency, record)


def authorize_report(
    principal: Principal, action: str, record: AuditRecord, agency_id: str
) -> Agent:
    """Check that the principal may read a report of `agency_id` now; return it as the agency.

    Supervisors read their own agency's reports and analysts any agency's. Raises
    UnauthorizedError for an expired token, ForbiddenError for a missing role or
    another agency's report, and NotFoundError for an agency an analyst requests
    that is not configured.
    """
    if principal.expires_at + LEEWAY_SECONDS < time.time():
        raise UnauthorizedError("token has expired; sign in again")
    allowed = PERMISSIONS[action]
    own_agency = principal.agency_id == agency_id
    granting = next(
        (
            role
            for role in allowed
            if role in principal.roles and (own_agency or role in CROSS_AGENCY_ROLES)
        ),
        None,
    )
    if granting is None:
        if any(role in principal.roles for role in allowed):
            raise ForbiddenError(
                f"{action} of agency {agency_id!r} requires its supervisor role or the role "
                f"{', '.join(sorted(CROSS_AGENCY_ROLES))}"
            )
        raise ForbiddenError(f"{action} requires one of the roles {', '.join(allowed)}")
    record.role = granting
    return Agent(principal, get_agency(agency_id), record)
