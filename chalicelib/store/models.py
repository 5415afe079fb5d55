"""PynamoDB models of the single Ventanilla table.

Every entity shares the table and its generic keys `pk` and `sk`; the prefixes
below are the access patterns. `infra/template.yaml` defines the same table, and
tests/unit/test_template.py checks that the two agree.
"""

import threading

import botocore.session
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.reports.histogram import BUCKET_COUNT
from chalicelib.settings import get_settings

TTL_ATTRIBUTE = "expires_at"


class TableItem(Model):
    """Base of every entity: the table, its keys and billing mode."""

    class Meta:
        table_name = get_settings().table_name
        region = get_settings().region
        billing_mode = "PAY_PER_REQUEST"
        # A contact flow waits at most 8 s for its Lambda, and DynamoDB answers
        # in milliseconds when healthy, so one request is bounded to two
        # attempts of at most 1 s to connect and 1 s to read, with botocore's
        # standard backoff of up to 1 s between them: about 5 s at worst.
        connect_timeout_seconds = 1
        read_timeout_seconds = 1
        max_retry_attempts = 1

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    @classmethod
    def _get_connection(cls):
        """Return the model's connection, on a botocore session shared by every model.

        pynamodb gives each model class its own botocore session, and each
        session loads and parses the DynamoDB service model again (about a
        dozen times per cold start here). One session per thread loads it once.
        """
        table_connection = super()._get_connection()
        local = table_connection.connection._local
        if getattr(local, "session", None) is None:
            local.session = shared_botocore_session()
        return table_connection


_sessions = threading.local()


def shared_botocore_session() -> botocore.session.Session:
    """Return this thread's botocore session for DynamoDB; botocore sessions are not thread-safe."""
    if getattr(_sessions, "session", None) is None:
        _sessions.session = botocore.session.get_session()
    return _sessions.session


def consent_key(agency_id: str, channel: str) -> str:
    """Return the key of one agency's channel in a profile's `opt_outs` and `consent_changed_at`."""
    return f"{agency_id}#{channel}"


def citizen_key(citizen_id: str) -> str:
    return f"CITIZEN#{citizen_id}"


def identity_key(kind: str, value: str) -> str:
    return f"IDENTITY#{kind}#{value}"


def event_key(channel: str, external_id: str) -> str:
    return f"EVENT#{channel}#{external_id}"


def case_key(case_id: str) -> str:
    return f"CASE#{case_id}"


def reference_key(reference: str) -> str:
    return f"REF#{reference}"


def chat_key(session_id: str) -> str:
    return f"CHAT#{session_id}"


def agency_key(agency_id: str) -> str:
    return f"AGENCY#{agency_id}"


def endpoint_key(kind: str, value: str) -> str:
    return f"ENDPOINT#{kind}#{value}"


def queue_key(agency_id: str, status: str) -> str:
    return f"AGENCY#{agency_id}#STATUS#{status}"


def outbound_key(channel: str, provider_message_id: str) -> str:
    return f"OUTBOUND#{channel}#{provider_message_id}"


def email_reference_key(message_id: str) -> str:
    return f"EMAILREF#{message_id}"


def quarantine_key(ses_message_id: str) -> str:
    return f"QUARANTINE#{ses_message_id}"


def workflow_run_sort_key(kind: str, occurrence: str) -> str:
    return f"WORKFLOW#{kind}#{occurrence}"


def workflow_wait_sort_key(agency_id: str, case_id: str, kind: str) -> str:
    return f"WAIT#{agency_id}#{case_id}#{kind}"


def survey_sort_key(occurrence: int) -> str:
    """Return the sort key of a case's survey after its `occurrence`-th resolution."""
    return f"SURVEY#{occurrence:04d}"


def satisfaction_sort_key(day: str) -> str:
    """Return the sort key of an agency's survey figures of one local day, `YYYY-MM-DD`."""
    return f"SATISFACTION#{day}"


def deadlines_key(agency_id: str) -> str:
    return f"AGENCY#{agency_id}#DEADLINES"


def deadline_sort_key(due_at: str, case_id: str) -> str:
    return f"DUE#{due_at}#{case_id}"


class CitizenProfile(TableItem):
    """`CITIZEN#<id>` / `PROFILE`: who the citizen is and how to reach them."""

    citizen_id = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    full_name = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    preferred_channel = UnicodeAttribute(null=True)
    # Channels the citizen has used with this deployment.
    channels = UnicodeSetAttribute(null=True)
    # True until a channel-verified identity belongs to the profile.
    provisional = BooleanAttribute(default=True)
    # A merged profile keeps its own items and points at the surviving one, so
    # the merge can be undone by removing the two pointers.
    merged_into = UnicodeAttribute(null=True)
    merged_from = UnicodeSetAttribute(null=True)
    # The identities behind the profile's `LINK` items (verified) and `CLAIM#`
    # items (claimed), as `<kind>#<value>`, written in the same transaction as
    # those items, so that a profile lists its identities without an index.
    verified_identities = UnicodeSetAttribute(null=True)
    claimed_identities = UnicodeSetAttribute(null=True)
    # The agency channels the citizen opted out of, as `<agency id>#<channel>`
    # (`consent_key`): STOP, BAJA or another opt-out keyword sent to that agency's
    # number or page. Carriers and Meta keep opt-outs per sending number and page, so
    # the other agencies' messages on the same channel still go out. An opt-in
    # keyword to the same agency removes the entry.
    opt_outs = UnicodeSetAttribute(null=True)
    # The UTC time each agency channel's consent last changed, keyed like `opt_outs`.
    # Profiles written before consent was kept per agency also have keys that are a
    # bare channel name.
    consent_changed_at = MapAttribute(null=True)
    # Channels opted out before consent was kept per agency. Read by `is_opted_out`
    # and never written any more.
    opted_out_channels = UnicodeSetAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Incremented by changes a person makes; those writes are conditional on it.
    version = NumberAttribute(default=1)

    def consent_changed_on(self, agency_id: str, channel: str) -> str | None:
        """Return when consent last changed on the agency's channel, or None if it never did."""
        changed_at = self.consent_changed_at.as_dict() if self.consent_changed_at else {}
        return changed_at.get(consent_key(agency_id, channel))

    def is_opted_out(self, agency_id: str, channel: str) -> bool:
        """Return whether the citizen opted out of the agency's messages on `channel`."""
        if consent_key(agency_id, channel) in (self.opt_outs or set()):
            return True
        # NOTE: an opt-out in `opted_out_channels` does not name the agency whose number
        # received it, so it stops every agency's messages on that channel until the
        # citizen opts in again at each agency, which records consent_changed_on.
        legacy = channel in (self.opted_out_channels or set())
        return legacy and self.consent_changed_on(agency_id, channel) is None


class OpenCase(MapAttribute):
    """The open case of one agency, copied onto identity links for the hot path."""

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    # When this identity last wrote to the agency, the start of the 24-hour window in
    # which WhatsApp and Messenger accept free text from the agency.
    last_inbound_at = UnicodeAttribute(null=True)
    # The Message-ID of the identity's last email to the agency, which a reply cites
    # in its In-Reply-To header.
    last_message_id = UnicodeAttribute(null=True)


class IdentityLink(TableItem):
    """`IDENTITY#<kind>#<value>` / `LINK` or `CLAIM#<citizen id>`.

    `LINK` is the identity's owner, written only for identities a channel
    verified. A value typed into a form or shown as a caller id is a claim: one
    `CLAIM#` item per provisional profile that claims it.
    """

    kind = UnicodeAttribute()
    value = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    verified = BooleanAttribute(default=False)
    source_channel = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    open_cases = MapAttribute(of=OpenCase, null=True)
    created_at = UnicodeAttribute()


class CallLeg(MapAttribute):
    """One leg of a Connect contact (a call, chat or task), as contact events and records show it.

    Times are UTC strings ending in `Z`. chalicelib/journey/call_progress.py merges
    events and records into a leg and documents the rules.
    """

    # The latest state Connect reported: initiated, connected_to_system, queued,
    # connected_to_agent, disconnected or completed, and its rank (1 to 6), which never drops.
    status = UnicodeAttribute(null=True)
    status_rank = NumberAttribute(null=True)
    channel = UnicodeAttribute(null=True)
    initiation_method = UnicodeAttribute(null=True)
    initiated_at = UnicodeAttribute(null=True)
    connected_to_system_at = UnicodeAttribute(null=True)
    enqueued_at = UnicodeAttribute(null=True)
    connected_to_agent_at = UnicodeAttribute(null=True)
    disconnected_at = UnicodeAttribute(null=True)
    after_contact_work_end_at = UnicodeAttribute(null=True)
    queue_arn = UnicodeAttribute(null=True)
    queue_name = UnicodeAttribute(null=True)
    agent_arn = UnicodeAttribute(null=True)
    disconnect_reason = UnicodeAttribute(null=True)
    # The LastUpdateTimestamp of the contact record applied, and what that record measured.
    record_updated_at = UnicodeAttribute(null=True)
    queue_seconds = NumberAttribute(null=True)
    agent_interaction_seconds = NumberAttribute(null=True)
    hold_seconds = NumberAttribute(null=True)
    after_contact_work_seconds = NumberAttribute(null=True)
    # The contact attributes of that record (name → value).
    attributes = MapAttribute(null=True)


class Contact(TableItem):
    """`CITIZEN#<id>` / `CONTACT#<utc ts>#<id>`: one touch on the timeline."""

    contact_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    direction = UnicodeAttribute()
    kind = UnicodeAttribute()
    body = UnicodeAttribute(null=True)
    case_id = UnicodeAttribute(null=True)
    case_reference = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)
    identity_kind = UnicodeAttribute(null=True)
    identity_verified = BooleanAttribute(default=False)
    # Contact flow actions a call ran, e.g. {"identify", "case_status"}.
    actions = UnicodeSetAttribute(null=True)
    delivery_status = UnicodeAttribute(null=True)
    # Why an outbound message failed or was not sent: the provider's error code, or a
    # reason such as "opted_out" or "window_closed".
    error_code = UnicodeAttribute(null=True)
    # Channels passed over before this attempt, each with its reason (channel → reason).
    skipped_channels = MapAttribute(null=True)
    # SMS segments an outbound SMS takes, which is what the carrier bills.
    segments = NumberAttribute(null=True)
    # The approved WhatsApp template sent in place of free text.
    template = UnicodeAttribute(null=True)
    # "opt_out", "opt_in" or "help" on a contact of kind "consent".
    consent_action = UnicodeAttribute(null=True)
    # On an inbound opt-out or opt-in: whether it changed the citizen's consent on the
    # agency's channel. A repeated STOP or START is False and gets no confirmation.
    consent_changed = BooleanAttribute(null=True)
    # The `sub` of the agent who sent an outbound reply.
    agent_id = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    # The rank of `delivery_status` (sent 1, failed 2, delivered 3, read 4). Status
    # updates are conditional on a lower rank, so a status never moves backwards.
    delivery_rank = NumberAttribute(null=True)
    # The provider's error codes of a failed delivery, such as WhatsApp's 131026.
    delivery_errors = NumberSetAttribute(null=True)
    # When the provider reported `delivery_status`.
    delivery_status_at = UnicodeAttribute(null=True)
    # On a contact of kind "workflow": the workflow kind and the step it records,
    # such as "appointment_reminder" and "reminder_sent".
    workflow_kind = UnicodeAttribute(null=True)
    workflow_step = UnicodeAttribute(null=True)
    # The legs of a Connect contact by contact id, on contacts of kind "call".
    call_legs = MapAttribute(of=CallLeg, null=True)
    # Incremented by every change of `call_legs`, which is conditional on its value.
    call_version = NumberAttribute(null=True)


class OutboundPointer(TableItem):
    """`OUTBOUND#<channel>#<provider message id>` / `CONTACT`: the contact of a sent message.

    Written in the same transaction as the outbound contact, so that a delivery status,
    which names only the provider's message id, finds the contact in one GetItem.
    """

    citizen_id = UnicodeAttribute()
    contact_sk = UnicodeAttribute()


class EmailReference(TableItem):
    """`EMAILREF#<Message-ID>` / `CASE`: the case of an email the agency sent or received.

    A reply names earlier messages in its In-Reply-To and References headers, so these
    pointers thread the reply into the case.
    """

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    # "inbound" or "outbound"; absent on pointers written before the field existed.
    direction = UnicodeAttribute(null=True)
    # The sender's address and whether it was verified, on inbound pointers only.
    # A sender chooses its own Message-ID, so only the same sender may thread by it.
    sender = UnicodeAttribute(null=True)
    sender_verified = BooleanAttribute(null=True)


class QuarantinedEmail(TableItem):
    """`QUARANTINE#<SES message id>` / `EMAIL`: an email whose spam or virus check failed.

    Only ids and verdicts are kept, never the sender's address, the subject or the body,
    and the item expires.
    """

    agency_id = UnicodeAttribute()
    ses_message_id = UnicodeAttribute()
    # The Message-ID header, as the sender's server wrote it.
    message_id = UnicodeAttribute(null=True)
    sender_domain = UnicodeAttribute()
    recipient = UnicodeAttribute()
    # SES verdicts by check: spam, virus, spf, dkim, dmarc.
    verdicts = MapAttribute(of=UnicodeAttribute)
    received_at = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class DedupeMarker(TableItem):
    """`EVENT#<channel>#<external id>` / `EVENT`: an event already recorded."""

    citizen_id = UnicodeAttribute()
    contact_sk = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    case_id = UnicodeAttribute(null=True)
    case_reference = UnicodeAttribute(null=True)
    case_opened = BooleanAttribute(default=False)
    recorded_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class CasesByStatusIndex(GlobalSecondaryIndex):
    """An agency's cases in one status, most recently active last."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class CaseDeadline(MapAttribute):
    """The response deadline of a case, as chalicelib/workflows/deadlines.py computes it."""

    # 1 for the case's first deadline; a reopened or retyped case starts the next one.
    occurrence = NumberAttribute()
    # The case type the deadline belongs to, its policy as configured (such as
    # "5 business_days"), and the clock its time runs on: "business" or "wall".
    case_type = UnicodeAttribute()
    policy = UnicodeAttribute()
    clock = UnicodeAttribute()
    # "running", "paused" (the case waits for the citizen), "stopped" (resolved,
    # closed, cancelled or retyped) or "failed" (the deadline workflow failed).
    status = UnicodeAttribute()
    started_at = UnicodeAttribute()
    # When the assigned agent is reminded, when the case is due and escalates to the
    # supervisor, and when it escalates to the agency head.
    remind_at = UnicodeAttribute()
    due_at = UnicodeAttribute()
    head_at = UnicodeAttribute()
    # 0 before the due time, 1 once the supervisor was alerted, 2 once the head was.
    escalation_level = NumberAttribute(default=0)
    reminded_at = UnicodeAttribute(null=True)
    escalated_at = UnicodeAttribute(null=True)
    # While paused: since when, and the seconds on `clock` that were left until each
    # step still to come. A resume sets each step that far after the resume.
    paused_at = UnicodeAttribute(null=True)
    remind_remaining = NumberAttribute(null=True)
    due_remaining = NumberAttribute(null=True)
    head_remaining = NumberAttribute(null=True)
    stopped_at = UnicodeAttribute(null=True)
    # The error name of the failed workflow step, such as "ventanilla.TaskFailed".
    error = UnicodeAttribute(null=True)
    # The sort key of the case's `DeadlineEntry` while the clock runs.
    entry_sk = UnicodeAttribute(null=True)
    # A digest of the task token of the last workflow step applied, so a retried
    # task repeats that step's outcome instead of applying the next one.
    step_token = UnicodeAttribute(null=True)
    # Incremented by every write of the deadline; each write is conditional on it.
    revision = NumberAttribute(default=1)


class Case(TableItem):
    """`CASE#<id>` / `CASE`: a request the agency works until it is resolved."""

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    status = UnicodeAttribute()
    channel = UnicodeAttribute()
    last_channel = UnicodeAttribute()
    subject = UnicodeAttribute(null=True)
    opened_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    contact_count = NumberAttribute(default=0)
    # The web chat session that opened the case, where agents' replies are shown.
    session_id = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)
    # On a recovery case (case_type "recovery") the case it follows up, and on that case
    # the recovery case.
    linked_case_id = UnicodeAttribute(null=True)
    # The citizen's latest satisfaction rating of the case's resolution, 1 to 5.
    satisfaction_rating = NumberAttribute(null=True)
    # How many times the case became resolved, which numbers its satisfaction surveys.
    resolution_count = NumberAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_status = CasesByStatusIndex()
    # One of the agency's case types, such as "complaint", "request" or "appointment",
    # or "recovery" for the follow-up that a low satisfaction rating opens.
    case_type = UnicodeAttribute(null=True)
    # The `sub` of the agent who works the case.
    assigned_agent_id = UnicodeAttribute(null=True)
    deadline = CaseDeadline(null=True)
    # When the citizen first wrote after the case last went to waiting_citizen. The
    # status change removes it and the journey service sets it if it is absent, so the
    # deadline workflow learns when the citizen replied without an extra request.
    citizen_answered_at = UnicodeAttribute(null=True)


class CitizenCase(TableItem):
    """`CITIZEN#<id>` / `CASE#<id>`: a citizen's cases in one query."""

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    status = UnicodeAttribute()
    opened_at = UnicodeAttribute()
    # The start of the case's appointment, so the phone line learns of a pending one
    # from the query that counts open cases.
    appointment_starts_at = UnicodeAttribute(null=True)


class CaseReference(TableItem):
    """`REF#<digits>` / `CASE`: the case behind a reference, from any channel."""

    case_id = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()


class ChatSession(TableItem):
    """`CHAT#<id>` / `SESSION`: a web chat and the hash of its secret token."""

    session_id = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    token_sha256 = UnicodeAttribute()
    language = UnicodeAttribute()
    case_id = UnicodeAttribute(null=True)
    case_reference = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class ChatMessage(TableItem):
    """`CHAT#<id>` / `MSG#<utc ts>#<id>`: what the browser shows, both directions."""

    message_id = UnicodeAttribute()
    direction = UnicodeAttribute()
    author = UnicodeAttribute()
    body = UnicodeAttribute()
    sent_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class MergeRecord(TableItem):
    """`CITIZEN#<surviving id>` / `MERGE#<merged id>`: why two profiles were joined."""

    merged_citizen_id = UnicodeAttribute()
    surviving_citizen_id = UnicodeAttribute()
    reason = UnicodeAttribute()
    proof = UnicodeAttribute(null=True)
    merged_at = UnicodeAttribute()
    reverted_at = UnicodeAttribute(null=True)


class Agency(TableItem):
    """`AGENCY#<id>` / `CONFIG`: an agency's settings."""

    agency_id = UnicodeAttribute()
    name = UnicodeAttribute()
    country = UnicodeAttribute()
    timezone = UnicodeAttribute()
    default_language = UnicodeAttribute()
    languages = UnicodeSetAttribute()
    # A message joins the citizen's open case when that case was active within
    # this many days; otherwise it opens a new case.
    active_case_days = NumberAttribute(default=7)
    chat_enabled = BooleanAttribute(default=True)
    # How citizens can reach the agency (phone, hours, address), sent in reply to HELP
    # or AYUDA. An SMS reply fits one segment only if this is at most 100 GSM-7 characters.
    contact_options = UnicodeAttribute(null=True)
    # Approved WhatsApp templates by purpose and language, sent outside the 24-hour
    # window: {"case_update": {"es": {"name": ..., "language": "es_MX",
    # "parameters": ["case_reference", "text"]}}}.
    whatsapp_templates = MapAttribute(null=True)
    sms_number = UnicodeAttribute(null=True)
    # The Meta id of the agency's WhatsApp business number, its number in E.164 and
    # its WhatsApp Business Account id.
    whatsapp_phone_number_id = UnicodeAttribute(null=True)
    whatsapp_display_number = UnicodeAttribute(null=True)
    whatsapp_waba_id = UnicodeAttribute(null=True)
    # Set when the number is linked through AWS End User Messaging Social instead of
    # Meta's Cloud API: its ARN there.
    whatsapp_social_phone_number_arn = UnicodeAttribute(null=True)
    messenger_page_id = UnicodeAttribute(null=True)
    # The address citizens write to and the agency's replies come from, lower-cased.
    email_address = UnicodeAttribute(null=True)
    # Services, offices and reminder settings of appointments; see chalicelib/appointments.
    appointments = MapAttribute(null=True)
    # Opening hours, closed days and holiday settings beside `timezone` and `country`,
    # as chalicelib/workflows/calendar.py reads them.
    calendar = MapAttribute(null=True)
    # Case types by name, each with its response deadline and escalation periods:
    # {"complaint": {"response": {"business_days": 5}, ...}} (chalicelib/workflows/deadlines.py).
    case_types = MapAttribute(null=True)
    # Satisfaction surveys: whether they are sent, the seconds from a resolution to the
    # question (moved out of quiet hours), and the seconds the citizen has to answer.
    surveys_enabled = BooleanAttribute(null=True)
    survey_delay_seconds = NumberAttribute(null=True)
    survey_answer_seconds = NumberAttribute(null=True)
    # The agency's web chat page, which the phone line sends to callers who would rather
    # write (the contact flow's send_link), such as "https://example.gob/chat".
    chat_url = UnicodeAttribute(null=True)
    # The id of the Connect flow that queues a callback task (the contact flow's
    # request_callback), in the agency's Connect instance.
    connect_callback_flow_id = UnicodeAttribute(null=True)


class DeadlineEntry(TableItem):
    """`AGENCY#<id>#DEADLINES` / `DUE#<due at>#<case id>`: a case with a running or failed deadline.

    Written and deleted in the same transactions as the case's deadline, so that a
    supervisor lists the cases past or near their due time with one Query.
    """

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    case_type = UnicodeAttribute()
    due_at = UnicodeAttribute()
    escalation_level = NumberAttribute(default=0)
    assigned_agent_id = UnicodeAttribute(null=True)
    # "running", or "failed" when the deadline workflow stopped reminding and escalating.
    status = UnicodeAttribute(default="running")


class AgencyEndpoint(TableItem):
    """`ENDPOINT#<kind>#<value>` / `AGENCY`: the agency behind a number, page or instance."""

    agency_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    value = UnicodeAttribute()


class WorkflowRun(TableItem):
    """`CASE#<id>` / `WORKFLOW#<kind>#<occurrence>`: one Step Functions execution of a case."""

    case_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    occurrence = UnicodeAttribute()
    execution_arn = UnicodeAttribute()
    # "running", "stopped" or "ended".
    status = UnicodeAttribute()
    started_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)


class WorkflowWait(TableItem):
    """`CITIZEN#<id>` / `WAIT#<agency>#<case>#<kind>`: a workflow waiting for the citizen.

    It contains the Step Functions task token that the citizen's answer resumes. It is
    keyed by citizen and agency, because an answer arrives on any of the citizen's
    channels at that agency and names neither the case nor the workflow.
    """

    citizen_id = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    case_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    execution_arn = UnicodeAttribute()
    task_token = UnicodeAttribute()
    # "waiting" until an answer claims it, then "answered", "ended" or "expired".
    status = UnicodeAttribute()
    asked_at = UnicodeAttribute()
    # When the workflow stops waiting; an answer after it gets the polite reply.
    answer_by = UnicodeAttribute()
    answered_at = UnicodeAttribute(null=True)
    answered_channel = UnicodeAttribute(null=True)
    # What the workflow needs to interpret the answer, such as the appointment id.
    context = MapAttribute(null=True)
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


def slot_sort_key(service: str, office: str, starts_at: str) -> str:
    return f"SLOT#{service}#{office}#{starts_at}"


def hold_sort_key(agency_id: str, service: str) -> str:
    return f"HOLD#{agency_id}#{service}"


def appointment_queue_key(agency_id: str, status: str) -> str:
    return f"AGENCY#{agency_id}#APPOINTMENT#{status}"


class AppointmentSlot(TableItem):
    """`AGENCY#<id>` / `SLOT#<service>#<office>#<utc start>`: bookable places at one time.

    Booking adds 1 to `booked` on the condition `booked < capacity`, and a
    cancellation subtracts 1, each in the transaction that changes the appointment.
    """

    agency_id = UnicodeAttribute()
    service = UnicodeAttribute()
    office = UnicodeAttribute()
    starts_at = UnicodeAttribute()
    ends_at = UnicodeAttribute()
    capacity = NumberAttribute()
    booked = NumberAttribute(default=0)


class Appointment(TableItem):
    """`CASE#<id>` / `APPOINTMENT`: a citizen's place in a slot, on the case it opened.

    The GSI lists an agency's appointments by status and start time, which is the
    call list of unconfirmed appointments.
    """

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    service = UnicodeAttribute()
    office = UnicodeAttribute()
    slot_sk = UnicodeAttribute()
    starts_at = UnicodeAttribute()
    # "booked", "confirmed", "unconfirmed" or "cancelled".
    status = UnicodeAttribute()
    language = UnicodeAttribute()
    # The channel the appointment was booked on: "web", "chat" or "voice".
    booked_on = UnicodeAttribute()
    # The reminder workflow's occurrence, incremented by each reschedule.
    occurrence = NumberAttribute(default=1)
    # Channels the current occurrence's reminder was sent on, in order.
    reminder_channels = ListAttribute(of=UnicodeAttribute, null=True)
    # The channel of the answer or agent that confirmed or cancelled the appointment.
    answered_on = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_status = CasesByStatusIndex()


class AppointmentHold(TableItem):
    """`CITIZEN#<id>` / `HOLD#<agency>#<service>`: the citizen's one active appointment.

    The booking transaction puts it on the condition that none exists, that the
    earlier one is no longer `active` (cancelled), or that its time has passed, so a
    citizen has at most one active appointment per service.
    """

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    starts_at = UnicodeAttribute()
    active = BooleanAttribute(default=True)


def phone_report_key(agency_id: str) -> str:
    return f"PHONE#{agency_id}"


def phone_row_key(day: str, queue_id: str) -> str:
    return f"DAY#{day}#QUEUE#{queue_id}"


class _PhoneDayCounters(TableItem):
    """The named counters of a `PhoneDay` row. `PhoneDay` adds the histogram buckets."""

    agency_id = UnicodeAttribute()
    # The agency's local date, YYYY-MM-DD, in its time zone.
    day = UnicodeAttribute()
    # The queue's id, the last part of its ARN, or "-" for contacts that reached no queue.
    queue_id = UnicodeAttribute()
    queue_arn = UnicodeAttribute(null=True)
    # The queue's name in the latest contact record counted in this row.
    queue_name = UnicodeAttribute(null=True)
    # Inbound calls (initiation method INBOUND), which the deflected share divides by.
    inbound_calls = NumberAttribute(null=True)
    # Voice contacts that entered the queue, and how each left it: answered by an
    # agent, abandoned by the caller, or ended otherwise (transfer, callback, the flow).
    offered = NumberAttribute(null=True)
    answered = NumberAttribute(null=True)
    abandoned_in_queue = NumberAttribute(null=True)
    ended_in_queue = NumberAttribute(null=True)
    # Voice contacts that ended before any queue: the caller hung up, or the flow ended them.
    abandoned_in_ivr = NumberAttribute(null=True)
    ended_in_ivr = NumberAttribute(null=True)
    # Choices the contact flow recorded: a callback requested, or a link sent to another channel.
    callbacks = NumberAttribute(null=True)
    deflected = NumberAttribute(null=True)
    # Sums in seconds of the durations counted in the `wait_*` and `handle_*` buckets.
    wait_seconds_total = NumberAttribute(null=True)
    handle_seconds_total = NumberAttribute(null=True)


def _histogram_attributes() -> dict[str, NumberAttribute]:
    """Return one counter per histogram bucket: `wait_00` to `wait_51`, `handle_00` to `handle_51`.

    An ADD to `wait.b03` fails while the `wait` map does not exist, and DynamoDB
    rejects an update that sets the map and adds to it at once, so every bucket is
    a top-level attribute that one ADD can create.
    """
    return {
        f"{prefix}_{index:02d}": NumberAttribute(null=True)
        for prefix in (WAIT_BUCKET_PREFIX, HANDLE_BUCKET_PREFIX)
        for index in range(BUCKET_COUNT)
    }


WAIT_BUCKET_PREFIX = "wait"
HANDLE_BUCKET_PREFIX = "handle"

# `PHONE#<agency id>` / `DAY#<local date>#QUEUE#<queue id>`: one agency's phone figures of
# one day and queue, kept by atomic ADDs, so that a date range is one Query. Time in queue
# and handle time are counts per bucket of chalicelib/reports/histogram.py.
PhoneDay = type(
    "PhoneDay",
    (_PhoneDayCounters,),
    {"__module__": __name__, "__doc__": "One agency's phone figures of one day and queue."}
    | _histogram_attributes(),
)


def ivr_choice_key(contact_id: str) -> str:
    return f"IVRCHOICE#{contact_id}"


class IvrChoice(TableItem):
    """`IVRCHOICE#<contact id>` / `CHOICE#<choice>`: a contact flow choice already counted."""

    agency_id = UnicodeAttribute()
    day = UnicodeAttribute()
    queue_id = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


def contact_record_key(contact_id: str) -> str:
    return f"CTR#{contact_id}"


class ContactRecordItem(TableItem):
    """`CTR#<contact id>` / `RECORD`: the latest contact record of one Connect contact.

    Writes are conditional on `last_update_timestamp`, so the record with the latest
    LastUpdateTimestamp wins. `counted` is what this record added to the phone figures
    (counter name → amount, in the row of `counted_day` and `counted_queue_id`), so that
    a re-sent record adds only its difference.
    """

    contact_id = UnicodeAttribute()
    initial_contact_id = UnicodeAttribute(null=True)
    agency_id = UnicodeAttribute()
    last_update_timestamp = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)
    initiation_method = UnicodeAttribute(null=True)
    initiated_at = UnicodeAttribute(null=True)
    disconnected_at = UnicodeAttribute(null=True)
    disconnect_reason = UnicodeAttribute(null=True)
    queue_arn = UnicodeAttribute(null=True)
    queue_name = UnicodeAttribute(null=True)
    enqueued_at = UnicodeAttribute(null=True)
    queue_seconds = NumberAttribute(null=True)
    agent_arn = UnicodeAttribute(null=True)
    connected_to_agent_at = UnicodeAttribute(null=True)
    agent_interaction_seconds = NumberAttribute(null=True)
    hold_seconds = NumberAttribute(null=True)
    after_contact_work_seconds = NumberAttribute(null=True)
    attributes = MapAttribute(null=True)
    counted_day = UnicodeAttribute(null=True)
    counted_queue_id = UnicodeAttribute(null=True)
    counted = MapAttribute(null=True)
    # Where the call's timeline contact is, for records re-sent after its marker expired.
    timeline_citizen_id = UnicodeAttribute(null=True)
    timeline_contact_sk = UnicodeAttribute(null=True)
    recorded_at = UnicodeAttribute()
    expires_at = TTLAttribute(attr_name=TTL_ATTRIBUTE)


class Survey(TableItem):
    """`CASE#<id>` / `SURVEY#<occurrence>`: the satisfaction survey after one resolution.

    `status` moves scheduled → sending → sent → answered or no_answer, or ends early
    as not_sent (no channel reached the citizen) or stopped (the case was reopened).
    Each move is a conditional update, so a redelivered workflow task acts once.
    """

    case_id = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    citizen_id = UnicodeAttribute()
    occurrence = NumberAttribute()
    status = UnicodeAttribute()
    # When the question is due, after the agency's delay and outside quiet hours.
    send_at = UnicodeAttribute()
    # The channel the question went out on, and the channel the rating came back on.
    channel = UnicodeAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)
    rating = NumberAttribute(null=True)
    answer_channel = UnicodeAttribute(null=True)
    answered_at = UnicodeAttribute(null=True)
    recovery_case_id = UnicodeAttribute(null=True)
    # Why the survey ended without an answer: "no_channel", "no_verified_phone", "reopened".
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class SatisfactionDay(TableItem):
    """`AGENCY#<id>` / `SATISFACTION#<YYYY-MM-DD>`: an agency's survey figures of one day.

    The day is the agency's local date of each event. Every figure is an atomic ADD,
    written in the same transaction as the survey's status change that it counts.
    """

    agency_id = UnicodeAttribute()
    day = UnicodeAttribute()
    surveys_sent = NumberAttribute(null=True)
    answers = NumberAttribute(null=True)
    score_sum = NumberAttribute(null=True)
    score_1 = NumberAttribute(null=True)
    score_2 = NumberAttribute(null=True)
    score_3 = NumberAttribute(null=True)
    score_4 = NumberAttribute(null=True)
    score_5 = NumberAttribute(null=True)
    no_answer = NumberAttribute(null=True)
    recoveries_opened = NumberAttribute(null=True)


ENTITIES = (
    CitizenProfile,
    IdentityLink,
    Contact,
    DedupeMarker,
    Case,
    CitizenCase,
    CaseReference,
    ChatSession,
    ChatMessage,
    MergeRecord,
    Agency,
    AgencyEndpoint,
    OutboundPointer,
    EmailReference,
    QuarantinedEmail,
    WorkflowRun,
    WorkflowWait,
    AppointmentSlot,
    Appointment,
    AppointmentHold,
    DeadlineEntry,
    PhoneDay,
    IvrChoice,
    ContactRecordItem,
    Survey,
    SatisfactionDay,
)
