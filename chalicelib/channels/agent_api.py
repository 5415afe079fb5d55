"""The agent API over HTTP: its authorizer, the guard of every route, and the wire format.

How 401 and 403 come out. API Gateway turns a token authorizer's failure into 401
only when the authorizer fails with the exact message "Unauthorized". A returned
policy can only allow the request or deny it with 403. Chalice's local gateway (`chalice local`
and `chalice.test.Client`, Chalice 1.34) runs the same authorizer in process but
lets an exception escape instead of answering 401. So the authorizer rejects an
invalid token by raising "Unauthorized" when it runs on Lambda, and elsewhere
returns an allow policy whose context says `authenticated: "false"` with the
reason, which the route guard turns into 401. Either way invalid tokens get 401,
and on AWS they never reach the route's Lambda. A request without an
Authorization header gets 401 from the gateway itself, before the authorizer runs.

A valid token is allowed through to every agent route with its claims in the
context. The guard then checks again that the token is unexpired, has a role
for the action and names a configured agency (403 otherwise), and the services
check the agency of each resource (404 for another agency's). API Gateway caches
an authorizer's result per token for `AUTHORIZER_TTL_SECONDS`, which is why the
policy covers all agent routes and why the guard re-checks the expiry.
"""

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, Literal

from chalice import AuthResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.agents import (
    access,
    audit,
    cases,
    citizens,
    reports,
    satisfaction_report,
    timeline,
)
from chalicelib.agents import appointments as agent_appointments
from chalicelib.agents.access import Agent
from chalicelib.agents.audit import AuditRecord
from chalicelib.agents.schemas import AppointmentChange, AppointmentList
from chalicelib.auth.principal import KeyUnavailableError, Principal
from chalicelib.channels.http import body_as, json_response
from chalicelib.channels.validation import validate
from chalicelib.errors import UnauthorizedError, ValidationError
from chalicelib.journey import lifecycle
from chalicelib.journey.references import format_reference
from chalicelib.observability import logger, start_event
from chalicelib.reports import phone_report
from chalicelib.settings import get_settings

AUTHORIZER_TTL_SECONDS = 300
# Paths the authorizer's policy allows. In execute-api ARNs, `*` also matches `/`.
AGENT_ROUTES = ["/citizens/*", "/cases/*", "/reports/*"]
ANONYMOUS = "anonymous"
AUTHENTICATE = "authenticate"
IDEMPOTENCY_HEADER = "idempotency-key"
MAX_REPLY_LENGTH = 4000
# Placeholder for a malformed id in an audit record's resource, because a malformed
# id is caller text that can be a phone number or an email address.
INVALID_ID = "<invalid id>"

_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_METHOD_PATTERN = re.compile(r"[A-Z]{1,16}")
# The fixed path segments of the agent routes, which an audit record may repeat.
_ROUTE_SEGMENTS = frozenset(
    {"citizens", "search", "timeline", "cases", "replies", "reports", "agencies"}
    | {"appointments", "appointment", "deadlines", "phone", "satisfaction"}
)
# Agency ids are short slugs chosen by the deployment, such as `demo` or `water`.
_AGENCY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# `If-Match: "3"`, `W/"3"` or `3`: the case version a change was read at.
_IF_MATCH = re.compile(r'^(?:W/)?"?([1-9][0-9]{0,9})"?$')
# An agent id is the token's `sub`: a Cognito user's is a UUID.
_AGENT_ID = r"^[A-Za-z0-9._@:-]{1,128}$"
# Agency ids as the seed and the agency settings write them, such as "demo".
_AGENCY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SearchRequest(_Request):
    """Exactly one identifier, in the body so that it never appears in a URL or access log."""

    phone: str | None = Field(default=None, min_length=1, max_length=32)
    email: str | None = Field(default=None, min_length=1, max_length=254)
    national_id: str | None = Field(default=None, min_length=1, max_length=64)
    case_reference: str | None = Field(default=None, min_length=1, max_length=16)

    def identifier(self) -> tuple[str, str]:
        """Return the kind and value given; raises ValidationError unless exactly one is."""
        values = {kind: getattr(self, kind) for kind in citizens.SEARCH_KINDS}
        present = [(kind, value) for kind, value in values.items() if value is not None]
        if len(present) != 1:
            raise ValidationError(
                "body: give exactly one of phone, email, national_id or case_reference",
                field="body",
            )
        return present[0]


class TimelineQuery(_Request):
    limit: int = Field(default=timeline.DEFAULT_PAGE_SIZE, ge=1, le=timeline.MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1)


class PhoneReportQuery(_Request):
    from_date: str = Field(alias="from")
    to_date: str = Field(alias="to")


class SatisfactionQuery(_Request):
    """Both ends of the range, local dates of the agency, as `YYYY-MM-DD`."""

    from_date: str = Field(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")
    to_date: str = Field(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$")

    def dates(self) -> tuple[date, date]:
        """Return both dates; raises ValidationError for one that is not in the calendar."""
        return _date(self.from_date, "from"), _date(self.to_date, "to")


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(
            f"query.{name}: {text} is not a calendar date; expected YYYY-MM-DD",
            field=f"query.{name}",
        ) from error


class ReplyRequest(_Request):
    text: str = Field(min_length=1, max_length=MAX_REPLY_LENGTH)
    idempotency_key: str | None = None


class AppointmentsQuery(_Request):
    status: Literal["booked", "confirmed", "unconfirmed", "cancelled"] = "unconfirmed"
    date: dt.date


class AppointmentChangeRequest(_Request):
    """A new status, or a new slot (`starts_at`, and `office` when it changes too)."""

    status: Literal["confirmed", "cancelled"] | None = None
    starts_at: dt.datetime | None = None
    office: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    def checked(self) -> "AppointmentChangeRequest":
        """Return the request; raises ValidationError unless it gives status or starts_at."""
        if (self.status is None) == (self.starts_at is None):
            raise ValidationError(
                "body: give either status (confirmed or cancelled) or starts_at", field="body"
            )
        if self.starts_at is not None and self.starts_at.tzinfo is None:
            raise ValidationError(
                "starts_at: expected a UTC time such as 2026-12-07T15:00:00Z", field="starts_at"
            )
        return self


class CaseChangeRequest(_Request):
    """The version read and at least one field to change; `assigned_agent_id: null` unassigns."""

    version: int | None = Field(default=None, ge=1)
    status: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    case_type: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    assigned_agent_id: str | None = Field(default=None, pattern=_AGENT_ID)


class DeadlineReportQuery(_Request):
    within_hours: int = Field(
        default=reports.DEFAULT_WITHIN_HOURS, ge=0, le=reports.MAX_WITHIN_HOURS
    )
    limit: int = Field(default=reports.DEFAULT_PAGE_SIZE, ge=1, le=reports.MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, min_length=1, max_length=128)


# Field names that the audit reason of a validation failure may contain: the path
# parameters, the models' fields and the timeline cursor. Any other field name is
# an unknown key of the caller's, which can be personal data.
AUDITED_FIELDS = frozenset(
    {
        "body",
        "query",
        "citizen_id",
        "case_id",
        "cursor",
        *SearchRequest.model_fields,
        *ReplyRequest.model_fields,
        *CaseChangeRequest.model_fields,
        "If-Match",
        *(f"query.{name}" for name in TimelineQuery.model_fields),
        "agency_id",
        *AppointmentChangeRequest.model_fields,
        *(f"query.{name}" for name in AppointmentsQuery.model_fields),
        *(f"query.{name}" for name in DeadlineReportQuery.model_fields),
        "query.from",
        "query.to",
    }
)


def authorize(token: str, method_arn: str) -> AuthResponse:
    """Verify an agent's bearer token for API Gateway, as described in the module docstring."""
    # Imported here, because PyJWT, cryptography and powertools' parameters would
    # otherwise lengthen the cold start of every function that imports app.py.
    from chalicelib.auth import verifier

    start_event({}, None)
    try:
        principal = verifier.authenticate(_BEARER.sub("", token.strip()))
    except UnauthorizedError as error:
        _reject(method_arn, error.message)
        if get_settings().on_lambda:
            raise UnauthorizedError("Unauthorized") from error
        return _unauthenticated(error.message, failure="unauthorized")
    except KeyUnavailableError as error:
        _reject(method_arn, error.message)
        if get_settings().on_lambda:
            raise
        return _unauthenticated(error.message, failure="unavailable")
    return AuthResponse(
        routes=AGENT_ROUTES, principal_id=principal.subject, context=context_of(principal)
    )


def context_of(principal: Principal) -> dict[str, str]:
    """Return the authorizer context of a principal; API Gateway allows only string values."""
    context = {
        "authenticated": "true",
        "subject": principal.subject,
        "roles": ",".join(sorted(principal.roles)),
        "agency_id": principal.agency_id or "",
        "token_use": principal.token_use,
        "expires_at": str(principal.expires_at),
    }
    if principal.name:
        context["name"] = principal.name
    return context


def principal_of(request: Any) -> Principal:
    """Return the principal the authorizer verified; raises UnauthorizedError when it did not."""
    context = (request.context or {}).get("authorizer") or {}
    if context.get("authenticated") != "true":
        reason = context.get("reason") or "request did not pass the agent authorizer"
        if context.get("failure") == "unavailable":
            raise KeyUnavailableError(reason)
        raise UnauthorizedError(f"invalid token: {reason}", field="Authorization")
    subject = context.get("subject")
    expires_at = context.get("expires_at", "")
    if not subject or not expires_at.isdigit():
        raise UnauthorizedError("authorizer context is incomplete", field="Authorization")
    return Principal(
        subject=subject,
        roles=frozenset(role for role in context.get("roles", "").split(",") if role),
        agency_id=context.get("agency_id") or None,
        token_use=context.get("token_use", ""),
        expires_at=int(expires_at),
        name=context.get("name") or None,
    )


def search_citizens(request: Any) -> Response:
    with _acting(request, access.SEARCH_CITIZENS, "citizens/search") as agent:
        kind, value = body_as(SearchRequest, request.raw_body).identifier()
        agent.audit.resource = f"citizens/search/{kind}"
        result = citizens.search(agent, kind, value)
    return _respond(result)


def get_citizen(request: Any, citizen_id: str) -> Response:
    resource = _resource("citizens/{citizen_id}", citizen_id=citizen_id)
    with _acting(request, access.READ_CITIZEN, resource) as agent:
        _check_id(citizen_id, "citizen_id")
        result = citizens.profile(agent, citizen_id)
    return _respond(result)


def get_timeline(request: Any, citizen_id: str) -> Response:
    resource = _resource("citizens/{citizen_id}/timeline", citizen_id=citizen_id)
    with _acting(request, access.READ_TIMELINE, resource) as agent:
        _check_id(citizen_id, "citizen_id")
        query = validate(TimelineQuery, dict(request.query_params or {}), prefix="query")
        result = timeline.timeline(agent, citizen_id, query.limit, query.cursor)
    return _respond(result)


def get_case(request: Any, case_id: str) -> Response:
    with _acting(request, access.READ_CASE, _resource("cases/{case_id}", case_id=case_id)) as agent:
        _check_id(case_id, "case_id")
        result = cases.get_case(agent, case_id)
    return _case_response(result)


def post_reply(request: Any, case_id: str) -> Response:
    resource = _resource("cases/{case_id}/replies", case_id=case_id)
    with _acting(request, access.REPLY_TO_CASE, resource) as agent:
        _check_id(case_id, "case_id")
        body = body_as(ReplyRequest, request.raw_body)
        key = _idempotency_key(body.idempotency_key or request.headers.get(IDEMPOTENCY_HEADER))
        result = cases.reply(agent, case_id, body.text, key)
    return _respond(result, 200 if result.duplicate else 201)


def list_appointments(request: Any, agency_id: str) -> Response:
    resource = "reports/agencies/{agency_id}/appointments"
    with _acting(request, access.LIST_APPOINTMENTS, resource.format(agency_id=INVALID_ID)) as agent:
        # The path's agency id is the caller's text, so the record repeats only the agent's own.
        if agency_id == agent.agency_id:
            agent.audit.resource = resource.format(agency_id=agency_id)
        query = validate(AppointmentsQuery, dict(request.query_params or {}), prefix="query")
        entries = agent_appointments.appointments_on(agent, agency_id, query.status, query.date)
        result = AppointmentList(
            agency_id=agency_id,
            status=query.status,
            date=query.date.isoformat(),
            appointments=entries,
        )
    return _respond(result)


def change_appointment(request: Any, case_id: str) -> Response:
    resource = _resource("cases/{case_id}/appointment", case_id=case_id)
    with _acting(request, access.CHANGE_APPOINTMENT, resource) as agent:
        _check_id(case_id, "case_id")
        body = body_as(AppointmentChangeRequest, request.raw_body).checked()
        if body.starts_at is not None:
            change = agent_appointments.reschedule(agent, case_id, body.office, body.starts_at)
        else:
            change = agent_appointments.change(agent, case_id, body.status)
        result = AppointmentChange(
            case_id=case_id,
            case_reference=format_reference(change.appointment.reference),
            status=change.status,
            office=change.appointment.office,
            starts_at=change.appointment.starts_at,
            occurrence=int(change.appointment.occurrence),
            changed=change.changed,
        )
    return _respond(result)


def patch_case(request: Any, case_id: str) -> Response:
    """Change a case's status, type or assignee, conditional on the version the client read.

    The version goes in the body's `version` or in an `If-Match` header (`"3"`); when
    both are given they must agree. The response carries the new version in its ETag.
    """
    with _acting(
        request, access.UPDATE_CASE, _resource("cases/{case_id}", case_id=case_id)
    ) as agent:
        _check_id(case_id, "case_id")
        body = body_as(CaseChangeRequest, request.raw_body)
        version = _expected_version(body.version, request.headers.get("if-match"))
        fields = body.model_fields_set - {"version"}
        if not fields:
            raise ValidationError(
                "body: give at least one of status, case_type or assigned_agent_id", field="body"
            )
        update = lifecycle.CaseUpdate(
            status=body.status,
            case_type=body.case_type,
            assigned_agent_id=(
                body.assigned_agent_id if "assigned_agent_id" in fields else lifecycle.UNSET
            ),
        )
        result = cases.update_case(agent, case_id, update, version)
    return _case_response(result)


def get_deadline_report(request: Any) -> Response:
    with _acting(request, access.READ_DEADLINE_REPORT, "reports/deadlines") as agent:
        query = validate(DeadlineReportQuery, dict(request.query_params or {}), prefix="query")
        result = reports.deadline_report(agent, query.within_hours, query.limit, query.cursor)
    return _respond(result)


def _expected_version(body_version: int | None, if_match: str | None) -> int:
    header_version = None
    if if_match is not None:
        match = _IF_MATCH.fullmatch(if_match.strip())
        if match is None:
            raise ValidationError(
                'If-Match: expected the case version as an entity tag, such as "3"',
                field="If-Match",
            )
        header_version = int(match[1])
    if body_version is not None and header_version is not None and body_version != header_version:
        raise ValidationError(
            "version: the body and the If-Match header name different versions; send one",
            field="version",
        )
    version = body_version or header_version
    if version is None:
        raise ValidationError(
            "version is required, in the body or an If-Match header: "
            "the case version you read, from GET /cases/{case_id}",
            field="version",
        )
    return version


def _case_response(view: BaseModel) -> Response:
    response = _respond(view)
    response.headers["ETag"] = f'"{view.version}"'
    return response


def get_phone_report(request: Any, agency_id: str) -> Response:
    valid_agency = _AGENCY_ID_PATTERN.fullmatch(agency_id) is not None
    resource = f"reports/agencies/{agency_id if valid_agency else INVALID_ID}/phone"
    with _acting(request, access.READ_PHONE_REPORT, resource, report_agency=agency_id) as agent:
        query = validate(PhoneReportQuery, dict(request.query_params or {}), prefix="query")
        start, end = _report_range(query)
        result = phone_report.phone_report(agent.agency, start, end)
    return _respond(result)


def get_satisfaction_report(request: Any, agency_id: str) -> Response:
    resource = f"reports/agencies/{_agency_segment(agency_id)}/satisfaction"
    with _acting(request, access.READ_SATISFACTION_REPORT, resource) as agent:
        query = validate(SatisfactionQuery, dict(request.query_params or {}), prefix="query")
        first, last = query.dates()
        result = satisfaction_report.satisfaction_report(agent, agency_id, first, last)
    return _respond(result)


def _agency_segment(agency_id: str) -> str:
    return agency_id if _AGENCY_ID_PATTERN.fullmatch(agency_id) else INVALID_ID


@contextmanager
def _acting(
    request: Any, action: str, resource: str, report_agency: str | None = None
) -> Iterator[Agent]:
    """Run one audited action as the request's agent, after the guard's checks.

    A token the authorizer rejected raises UnauthorizedError before any record is
    started, because the authorizer already wrote that rejection's audit record.
    With `report_agency`, the action reads a report of that agency, which
    access.authorize_report checks instead of the agent's own agency.
    """
    principal = principal_of(request)
    record = AuditRecord(
        actor=principal.subject,
        action=action,
        resource=resource,
        role=",".join(sorted(principal.roles)) or None,
        agency=principal.agency_id,
    )
    logger.append_keys(agency=principal.agency_id, actor=principal.subject)
    with audit.audited(record, AUDITED_FIELDS):
        if report_agency is None:
            yield access.authorize(principal, action, record)
            return
        if not _AGENCY_ID_PATTERN.fullmatch(report_agency):
            raise ValidationError(
                "agency_id: expected 1 to 64 lower-case letters, digits, '-' or '_'",
                field="agency_id",
            )
        yield access.authorize_report(principal, action, record, report_agency)


def _reject(method_arn: str, reason: str) -> None:
    audit.write(
        AuditRecord(
            actor=None,
            action=AUTHENTICATE,
            resource=_resource_of(method_arn),
            outcome=audit.DENIED,
            reason=reason,
        )
    )


def _unauthenticated(reason: str, failure: str) -> AuthResponse:
    context = {"authenticated": "false", "failure": failure, "reason": reason}
    return AuthResponse(routes=AGENT_ROUTES, principal_id=ANONYMOUS, context=context)


def _resource(template: str, **ids: str) -> str:
    """Fill a route's resource template with its ids, each malformed one as INVALID_ID."""
    checked = {
        name: value if _ID_PATTERN.fullmatch(value) else INVALID_ID for name, value in ids.items()
    }
    return template.format(**checked)


def _resource_of(method_arn: str) -> str:
    """Return `GET citizens/...` from a method ARN, `arn:...:<api id>/<stage>/GET/citizens/...`.

    The path is the caller's, so only route segments and well-formed ids are kept
    and every other segment becomes INVALID_ID.
    """
    parts = method_arn.split(":", 5)[-1].split("/", 3)
    if len(parts) < 3:
        return "unknown"
    method = parts[2] if _METHOD_PATTERN.fullmatch(parts[2]) else "unknown"
    path = parts[3] if len(parts) > 3 else ""
    parts = path.split("/")
    segments = [
        _audited_segment(segment, previous)
        for previous, segment in zip(["", *parts], parts, strict=False)
    ]
    return f"{method} {'/'.join(segments)}".strip()


def _audited_segment(segment: str, previous: str) -> str:
    if not segment or segment in _ROUTE_SEGMENTS or _ID_PATTERN.fullmatch(segment):
        return segment
    # Only the segment after `agencies` is an agency id; a slug elsewhere is caller text.
    if previous == "agencies" and _AGENCY_ID_PATTERN.fullmatch(segment):
        return segment
    return INVALID_ID


def _check_id(value: str, field: str) -> None:
    # fullmatch, because `$` in `match` also accepts a trailing newline.
    if not _ID_PATTERN.fullmatch(value):
        raise ValidationError(f"{field}: expected 32 lower-case hexadecimal digits", field=field)


def _report_range(query: PhoneReportQuery) -> tuple[date, date]:
    """Return the dates of a report query; raises ValidationError naming the field at fault."""
    start = _report_date(query.from_date, "query.from")
    end = _report_date(query.to_date, "query.to")
    if end < start:
        raise ValidationError("query.to: must be on or after query.from", field="query.to")
    days = (end - start).days + 1
    if days > phone_report.MAX_REPORT_DAYS:
        raise ValidationError(
            f"query.to: the range covers {days} days; request at most "
            f"{phone_report.MAX_REPORT_DAYS} days at a time",
            field="query.to",
        )
    return start, end


def _report_date(value: str, field: str) -> date:
    message = f"{field}: expected a date as YYYY-MM-DD, such as 2026-03-02"
    if not _DATE_PATTERN.fullmatch(value):
        raise ValidationError(message, field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise ValidationError(message, field=field) from error


def _idempotency_key(key: str | None) -> str:
    if not key:
        raise ValidationError(
            "idempotency_key is required, in the body or the Idempotency-Key header",
            field="idempotency_key",
        )
    if not _KEY_PATTERN.match(key):
        raise ValidationError(
            "idempotency_key: expected 1 to 128 letters, digits or . _ : -",
            field="idempotency_key",
        )
    return key


def _respond(model: BaseModel, status_code: int = 200) -> Response:
    # Every field is sent, None included, so clients see one fixed shape.
    return json_response(model.model_dump(mode="json"), status_code)
