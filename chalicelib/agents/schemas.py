"""Response bodies of the agent API.

Case references are shown grouped (`482-193-057`) and times are UTC strings
ending in `Z`, as stored.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchMatch(_Response):
    citizen_id: str
    # Kind of match: the verified owner of the identity, a profile that only
    # claims it, or the citizen of the case a reference names.
    match: Literal["verified", "claimed", "case_reference"]
    first_name: str | None = None
    full_name: str | None = None
    provisional: bool
    merged_into: str | None = None


class SearchResult(_Response):
    kind: str
    matches: list[SearchMatch]


class IdentityView(_Response):
    kind: str
    value: str
    verified: bool
    source_channel: str
    since: str
    # Profile that owns or claims the identity: the citizen or one merged into them.
    citizen_id: str


class CaseSummary(_Response):
    case_id: str
    reference: str
    status: str
    opened_at: str
    citizen_id: str


class OtherAgencyCase(_Response):
    """A case of another agency: that it exists, never what it contains."""

    agency_id: str
    reference: str
    status: str


class ProfileView(_Response):
    citizen_id: str
    first_name: str | None = None
    full_name: str | None = None
    language: str | None = None
    preferred_channel: str | None = None
    channels: list[str]
    provisional: bool
    merged_into: str | None = None
    merged_from: list[str]
    identities: list[IdentityView]
    # Cases of the agent's agency: open ones first, then the newest.
    cases: list[CaseSummary]
    other_agency_cases: list[OtherAgencyCase]


class CallLegView(_Response):
    """One Connect contact of a call: the first leg, a transfer or a callback."""

    contact_id: str
    status: str | None = None
    initiation_method: str | None = None
    initiated_at: str | None = None
    enqueued_at: str | None = None
    queue_name: str | None = None
    connected_to_agent_at: str | None = None
    disconnected_at: str | None = None
    disconnect_reason: str | None = None
    # Measured by the leg's contact record, in whole seconds.
    queue_seconds: int | None = None
    agent_interaction_seconds: int | None = None
    hold_seconds: int | None = None


class CallView(_Response):
    """A call's progress from Connect, summed over its legs.

    `status` is that of the leg that started last: initiated, connected_to_system,
    queued, connected_to_agent, disconnected or completed.
    """

    status: str | None = None
    started_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    queue_name: str | None = None
    time_in_queue_seconds: int | None = None
    agent_interaction_seconds: int | None = None
    hold_seconds: int | None = None
    disconnect_reason: str | None = None
    legs: list[CallLegView]


class TimelineEntry(_Response):
    contact_id: str
    citizen_id: str
    channel: str
    direction: str
    kind: str
    text: str | None = None
    case_id: str | None = None
    case_reference: str | None = None
    occurred_at: str
    identity_kind: str | None = None
    identity_verified: bool
    delivery_status: str | None = None
    actions: list[str] | None = None
    agent_id: str | None = None
    # On a consent contact: "opt_out", "opt_in" or "help", and whether the inbound
    # keyword changed consent (False for a repeated STOP or START).
    consent_action: str | None = None
    consent_changed: bool | None = None
    # A call's progress from Connect's contact events and records, on calls only.
    call: CallView | None = None


class TimelinePage(_Response):
    citizen_id: str
    contacts: list[TimelineEntry]
    # Cursor of the next, older page, or None on the last page.
    next_cursor: str | None = None


class DeadlineView(_Response):
    """A case's response deadline: times are UTC, and `due_at` moves while it is paused."""

    occurrence: int
    case_type: str
    # The configured period, such as "5 business_days", and its clock: "business" or "wall".
    policy: str
    clock: str
    # "running", "paused", "stopped" or "failed".
    status: str
    paused: bool
    started_at: str
    remind_at: str
    due_at: str
    head_at: str
    # True once `due_at` has passed, until the case is resolved, closed or retyped.
    overdue: bool
    # 0 on time, 1 escalated to the supervisor, 2 escalated to the agency head.
    escalation_level: int
    reminded_at: str | None = None
    escalated_at: str | None = None
    paused_at: str | None = None
    stopped_at: str | None = None
    # The error name of a failed deadline workflow, such as "ventanilla.TaskFailed".
    error: str | None = None


class CaseView(_Response):
    case_id: str
    reference: str
    agency_id: str
    citizen_id: str
    status: str
    channel: str
    last_channel: str
    subject: str | None = None
    opened_at: str
    last_activity_at: str
    contact_count: int
    version: int
    # True when POST /cases/{case_id}/replies can deliver on the case's channel.
    replies_available: bool
    case_type: str | None = None
    assigned_agent_id: str | None = None
    # The latest deadline of the case, or None when its type never had one.
    deadline: DeadlineView | None = None
    # The citizen's latest satisfaction rating of a resolution, 1 to 5, if any.
    satisfaction_rating: int | None = None
    # A recovery case's rated case, or a rated case's recovery case.
    linked_case_id: str | None = None


class DeadlineReportEntry(_Response):
    case_id: str
    reference: str
    case_type: str
    due_at: str
    overdue: bool
    escalation_level: int
    assigned_agent_id: str | None = None
    # "running", or "failed" when its workflow stopped reminding and escalating.
    deadline_status: str


class DeadlineReport(_Response):
    agency_id: str
    as_of: str
    # Cases whose running or failed deadline is due before `as_of` plus this many hours,
    # overdue ones included, soonest due first. Paused deadlines are not listed.
    within_hours: int
    cases: list[DeadlineReportEntry]
    # Cursor of the next page, or None on the last page.
    next_cursor: str | None = None


class ReplyResult(_Response):
    contact_id: str
    case_id: str
    case_reference: str
    channel: str
    sent_at: str
    # True when an earlier request with the same idempotency key sent this reply.
    duplicate: bool
    # "sent" once a provider accepted it, "delivered" once it is in the chat session.
    delivery_status: str


class AppointmentEntry(_Response):
    case_id: str
    case_reference: str
    citizen_id: str
    service: str
    office: str
    starts_at: str
    status: str
    booked_on: str
    # Channels the reminder went out on, in order.
    reminder_channels: list[str]
    answered_on: str | None = None


class AppointmentList(_Response):
    agency_id: str
    status: str
    # The agency's local day, YYYY-MM-DD.
    date: str
    appointments: list[AppointmentEntry]


class AppointmentChange(_Response):
    case_id: str
    case_reference: str
    status: str
    office: str
    starts_at: str
    # Incremented by each reschedule; each occurrence has its own reminder.
    occurrence: int
    # False when the appointment already had this status, or could no longer change.
    changed: bool


class SatisfactionTotals(_Response):
    surveys_sent: int
    answers: int
    # Surveys whose answer window closed without a rating.
    no_answer: int
    score_sum: int
    # score_sum / answers rounded to two decimals, or None without answers.
    average: float | None = None
    # Answers per score, "1" to "5".
    scores: dict[str, int]
    recoveries_opened: int


class SatisfactionDayView(SatisfactionTotals):
    # The agency's local date, `YYYY-MM-DD`.
    day: str


class SatisfactionReport(_Response):
    agency_id: str
    # The time zone of the agency's local dates.
    timezone: str
    from_date: str
    to_date: str
    totals: SatisfactionTotals
    # Days with at least one survey event, oldest first.
    days: list[SatisfactionDayView]
