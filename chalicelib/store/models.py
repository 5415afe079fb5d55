"""PynamoDB models of the single Ventanilla table.

Every entity shares the table and its generic keys `pk` and `sk`; the prefixes
below are the access patterns. `infra/template.yaml` defines the same table, and
tests/unit/test_template.py checks that the two agree.
"""

import threading

import botocore.session
from pynamodb.attributes import (
    BooleanAttribute,
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
    # Channels the citizen opted out of by sending STOP, BAJA or another opt-out
    # keyword, which get no messages until an opt-in keyword, and the UTC time each
    # channel's consent last changed (channel name → time).
    opted_out_channels = UnicodeSetAttribute(null=True)
    consent_changed_at = MapAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Incremented by changes a person makes; those writes are conditional on it.
    version = NumberAttribute(default=1)


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
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_status = CasesByStatusIndex()


class CitizenCase(TableItem):
    """`CITIZEN#<id>` / `CASE#<id>`: a citizen's cases in one query."""

    case_id = UnicodeAttribute()
    reference = UnicodeAttribute()
    agency_id = UnicodeAttribute()
    status = UnicodeAttribute()
    opened_at = UnicodeAttribute()


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
    # The agency's web chat page, which the phone line sends to callers who would rather
    # write (the contact flow's send_link), such as "https://example.gob/chat".
    chat_url = UnicodeAttribute(null=True)
    # The id of the Connect flow that queues a callback task (the contact flow's
    # request_callback), in the agency's Connect instance.
    connect_callback_flow_id = UnicodeAttribute(null=True)


class AgencyEndpoint(TableItem):
    """`ENDPOINT#<kind>#<value>` / `AGENCY`: the agency behind a number, page or instance."""

    agency_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    value = UnicodeAttribute()


def phone_report_key(agency_id: str) -> str:
    return f"PHONE#{agency_id}"


def phone_row_key(day: str, queue_id: str) -> str:
    return f"DAY#{day}#QUEUE#{queue_id}"


class _PhoneDayCounters(TableItem):
    """The named counters of a `PhoneDay` row; the histogram buckets are added below."""

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
# one day and queue, kept by atomic ADDs, so that a date range is one Query. Time in
# queue and handle time are bucket counts; chalicelib/reports/histogram.py has the buckets.
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
    PhoneDay,
    IvrChoice,
)
