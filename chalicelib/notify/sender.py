"""Send a text to a citizen on the best channel that reaches them, and record every attempt.

The first channel is the one the caller names (`send_text`) or, for `notify_citizen`,
the channel the citizen last used for the case, else the profile's preferred channel.
When a channel cannot take the message (opted out, no verified identity, WhatsApp or
Messenger window closed without a template or tag, provider failure), the next channel
of `routing.FALLBACK_ORDER` that reaches the citizen is tried.

Every attempt is recorded after the last one, in one TransactWriteItems. Each attempt
is a contact with its delivery status, error code, the channels skipped before it, SMS
segments and template. Each message a provider accepted also gets the pointer
`OUTBOUND#<channel>#<provider message id>` / `CONTACT` that delivery statuses read.
Channels skipped after the last attempt get one "not_sent" contact of their own,
so that the timeline shows why a message reached no one.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pynamodb.exceptions import PynamoDBException

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.whatsapp import status_rank
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import ConflictError, NotFoundError
from chalicelib.journey import prompts
from chalicelib.journey.deliveries import outbound_pointer
from chalicelib.journey.models import CHAT, EMAIL, MESSENGER, SMS, WHATSAPP, Identity
from chalicelib.journey.records import new_contact, new_id
from chalicelib.journey.references import format_reference
from chalicelib.notify import chat as chat_outbox
from chalicelib.notify import routing
from chalicelib.notify.attempts import (
    DELIVERED,
    NO_TEMPLATE,
    NOT_SENT,
    WINDOW_CLOSED,
    Attempt,
    not_sent,
)
from chalicelib.notify.email import send_email
from chalicelib.notify.messenger import send_messenger
from chalicelib.notify.routing import Route, Skip
from chalicelib.notify.sms import send_sms
from chalicelib.notify.whatsapp import (
    interactive_message,
    send_whatsapp,
    template_message,
    text_message,
)
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CitizenProfile,
    Contact,
    EmailReference,
    case_key,
    citizen_key,
    email_reference_key,
)
from chalicelib.store.transactions import Transaction

# The template purpose of a message about a case, looked up in the agency's templates.
CASE_UPDATE = "case_update"
WHATSAPP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Outbound:
    """One message to one citizen, before a channel is chosen."""

    agency: AgencyConfig
    citizen_id: str
    text: str
    case_id: str | None = None
    case_reference: str | None = None
    # "notice" (automatic), "reply" (an agent's) or "consent" (the reply to a consent keyword).
    kind: str = "notice"
    # The purpose whose approved WhatsApp template may carry the text outside the
    # 24-hour window, such as "case_update". With None no template is sent.
    template: str | None = CASE_UPDATE
    agent_id: str | None = None
    # Set on the reply to a consent keyword, which goes to the keyword's channel
    # even when it is opted out, and nowhere else.
    consent_action: str | None = None
    # The citizen's language. Templates and email subjects are never sent in another.
    language: str | None = None
    # The case's web chat session, the only way to reach the citizen by chat.
    session_id: str | None = None
    # The time of the inbound message on the first channel that this send replies to.
    inbound_at: datetime | None = None
    # Answers the citizen can tap, as (id, title): WhatsApp shows them as reply
    # buttons or a list inside the 24-hour window, and Messenger as quick replies.
    # Other channels, and templates, carry only `text`, so the text must say how
    # to answer in words or digits. A tapped choice comes back as an inbound
    # message of content kind "button" whose `payload` is the id.
    choices: tuple[tuple[str, str], ...] = ()
    # The only channels the message may take, such as SMS and WhatsApp for a link sent
    # from a call. None allows every channel.
    channels: frozenset[str] | None = None
    # A phone number that SMS and WhatsApp send to even when it is only a claim, such as
    # a caller id. Set it only for a text that contains nothing about a case.
    phone: str | None = None


@dataclass
class Delivery:
    """The attempts of one message, their contacts, and the transaction that records them."""

    attempts: list[Attempt]
    contacts: list[Contact]
    transaction: Transaction = field(default_factory=Transaction)

    @property
    def final(self) -> Contact:
        return self.contacts[-1]

    @property
    def status(self) -> str:
        return self.attempts[-1].status

    @property
    def reached(self) -> bool:
        return self.attempts[-1].reached


def send_text(
    *,
    agency: AgencyConfig,
    channel: str,
    citizen_id: str,
    to: Identity | None,
    text: str,
    case_id: str | None = None,
    case_reference: str | None = None,
    inbound_at: datetime | None = None,
    session_id: str | None = None,
    kind: str = "notice",
    consent_action: str | None = None,
) -> str:
    """Send `text` on `channel` to `to`, or on the next channel that reaches the citizen.

    Returns the delivery status of the last attempt. The reply to a consent keyword
    (`consent_action` set) never falls back. Failures are recorded with their error
    code rather than raised, so the inbound event that triggered the send is not
    retried and recorded twice.
    """
    request = Outbound(
        agency=agency,
        citizen_id=citizen_id,
        text=text,
        case_id=case_id,
        case_reference=case_reference,
        kind=kind,
        consent_action=consent_action,
        session_id=session_id,
        inbound_at=inbound_at,
    )
    first = Route(channel, identity=to, session_id=session_id)
    delivery = deliver(request, first, fallback=consent_action is None)
    record(delivery)
    return delivery.status


def notify_citizen(
    agency: AgencyConfig,
    citizen_id: str,
    text: str,
    case_id: str | None = None,
    template: str | None = None,
    *,
    kind: str = "notice",
    agent_id: str | None = None,
    commit: bool = True,
    choices: tuple[tuple[str, str], ...] = (),
) -> Delivery:
    """Send `text` on the channel the citizen last used for the case, else their preferred one.

    `template` names the purpose whose approved WhatsApp template may carry the text
    outside the 24-hour window, such as "case_update". With `commit=False` the records
    are left in `Delivery.transaction`, so a caller can add its own writes (a dedupe
    marker, a case update) and commit them together. Raises NotFoundError for a case
    of another agency or citizen.
    """
    if case_id is not None:
        case = _case_of(agency, citizen_id, case_id)
        return notify_case(
            agency,
            case,
            text,
            template,
            kind=kind,
            agent_id=agent_id,
            commit=commit,
            choices=choices,
        )
    request = Outbound(
        agency=agency,
        citizen_id=citizen_id,
        text=text,
        kind=kind,
        template=template,
        agent_id=agent_id,
        choices=choices,
    )
    delivery = deliver(request, None)
    if commit:
        record(delivery)
    return delivery


def notify_case(
    agency: AgencyConfig,
    case: Case,
    text: str,
    template: str | None = None,
    *,
    kind: str = "notice",
    agent_id: str | None = None,
    commit: bool = True,
    choices: tuple[tuple[str, str], ...] = (),
    channel: str | None = None,
) -> Delivery:
    """Send `text` about a case already read, first on `channel` or the case's last channel.

    `choices` are answers the citizen can tap where the channel has buttons (see
    `Outbound.choices`).
    """
    request = Outbound(
        agency=agency,
        citizen_id=case.citizen_id,
        text=text,
        case_id=case.case_id,
        case_reference=case.reference,
        kind=kind,
        template=template,
        agent_id=agent_id,
        session_id=case.session_id,
        choices=choices,
    )
    delivery = deliver(request, Route(channel or case.last_channel))
    if commit:
        record(delivery)
    return delivery


def deliver(request: Outbound, first: Route | None, fallback: bool = True) -> Delivery:
    """Try channels in order until one reaches the citizen, and build the records uncommitted."""
    now = utc_now()
    # Every log line of the sends names the citizen, as the handler's own lines do. The
    # keys go to this thread's context, because webhook items are sent from several threads.
    logger.thread_safe_append_keys(citizen_id=request.citizen_id)
    profile = _profile(request.citizen_id)
    preferred = profile.preferred_channel if profile else None
    attempts: list[Attempt] = []
    skipped: list[dict[str, str]] = [{}]
    order = routing.channel_order(first.channel if first else None, preferred, fallback)
    if request.channels is not None:
        order = [channel for channel in order if channel in request.channels]
    for channel in order:
        route = routing.route_for(
            channel,
            request.agency.agency_id,
            profile,
            first,
            request.session_id,
            request.consent_action is not None,
            phone=request.phone,
        )
        attempt = (
            not_sent(channel, route.reason)
            if isinstance(route, Skip)
            else _attempt(request, route, first, profile, now)
        )
        if attempt.status == NOT_SENT:
            skipped[-1][channel] = attempt.error_code
            continue
        attempts.append(attempt)
        if attempt.reached:
            return _build_records(request, attempts, skipped, now)
        skipped.append({})
    if skipped[-1]:
        # No channel took the message: the first channel passed over last gets a
        # contact of its own, carrying the others' reasons.
        channel, reason = next(iter(skipped[-1].items()))
        del skipped[-1][channel]
        attempts.append(not_sent(channel, reason))
    return _build_records(request, attempts, skipped, now)


def record(delivery: Delivery) -> None:
    """Commit a delivery's records, logging instead of raising when the write fails.

    The messages were already sent, so raising would only make the caller retry them.
    """
    try:
        delivery.transaction.commit()
    except (ConflictError, PynamoDBException) as error:
        logger.error(
            "outbound contacts not recorded",
            extra={
                "citizen_id": delivery.final.citizen_id,
                "channels": [attempt.channel for attempt in delivery.attempts],
                "error_type": type(error).__name__,
            },
        )


def _attempt(
    request: Outbound,
    route: Route,
    first: Route | None,
    profile: CitizenProfile | None,
    now: datetime,
) -> Attempt:
    language = _language(request, profile)
    if route.channel == SMS:
        return send_sms(request.agency, route.identity, request.text)
    if route.channel == CHAT:
        return Attempt(CHAT, DELIVERED, session_id=route.session_id)
    answered = first is not None and first.channel == route.channel
    inbound_at = request.inbound_at if answered else None
    state = routing.LinkState(last_inbound_at=inbound_at)
    if inbound_at is None or route.channel == EMAIL:
        state = routing.link_state(route.identity, request.agency.agency_id)
    if route.channel == WHATSAPP:
        return _whatsapp(request, route.identity, state, language, now)
    if route.channel == MESSENGER:
        return send_messenger(
            request.agency,
            route.identity,
            request.text,
            kind=request.kind,
            template=request.template,
            last_inbound_at=state.last_inbound_at,
            now=now,
            choices=request.choices,
        )
    in_reply_to = state.last_message_id if state.case_id == request.case_id else None
    subject = _email_subject(request, language)
    return send_email(request.agency, route.identity, subject, request.text, in_reply_to)


def _whatsapp(
    request: Outbound,
    to: Identity,
    state: routing.LinkState,
    language: str,
    now: datetime,
) -> Attempt:
    """Send free text inside the 24-hour window, else the purpose's template in the language."""
    last = state.last_inbound_at
    if last is not None and now - last < WHATSAPP_WINDOW:
        label = prompts.text("choose_option", language)
        message = interactive_message(to, request.text, request.choices, label)
        return send_whatsapp(request.agency, to, message or text_message(to, request.text))
    if request.template is None:
        return not_sent(WHATSAPP, WINDOW_CLOSED, to)
    template = request.agency.whatsapp_templates.get(request.template, {}).get(language)
    if not template:
        return not_sent(WHATSAPP, NO_TEMPLATE, to)
    values = {
        # A template about no case, such as a chat link sent from a call, has no reference.
        "case_reference": format_reference(request.case_reference)
        if request.case_reference
        else "",
        "text": request.text,
        "agency": request.agency.name,
    }
    return send_whatsapp(request.agency, to, template_message(to, template, values))


def _build_records(
    request: Outbound, attempts: list[Attempt], skipped: list[dict[str, str]], now: datetime
) -> Delivery:
    delivery = Delivery(attempts, [])
    transaction = delivery.transaction
    for index, attempt in enumerate(attempts):
        # One millisecond apart, so that the timeline shows the attempts in order.
        occurred_at = now + timedelta(milliseconds=index)
        contact = _contact(request, attempt, occurred_at, now)
        contact.skipped_channels = (
            skipped[index] if index < len(skipped) and skipped[index] else None
        )
        transaction.put_new(contact, tag=f"outbound contact {index}")
        delivery.contacts.append(contact)
        if attempt.reached and attempt.message_id:
            pointer = outbound_pointer(attempt.channel, attempt.message_id, contact)
            transaction.put_new(pointer, tag="outbound pointer")
        if attempt.email_message_id and request.case_id:
            transaction.put(_email_reference(request, attempt.email_message_id, now), tag="email")
        if attempt.channel == CHAT and attempt.reached:
            author = "agent" if request.kind == "reply" else "system"
            chat_outbox.add_message(
                transaction,
                attempt.session_id,
                contact.contact_id,
                "outbound",
                author,
                request.text,
                occurred_at,
            )
    return delivery


def _contact(request: Outbound, attempt: Attempt, occurred_at: datetime, now: datetime) -> Contact:
    contact = new_contact(
        contact_id=new_id(),
        citizen_id=request.citizen_id,
        agency_id=request.agency.agency_id,
        channel=attempt.channel,
        direction="outbound",
        kind=request.kind,
        occurred_at=occurred_at,
        now=now,
        body=request.text,
        case_id=request.case_id,
        case_reference=request.case_reference,
        external_id=attempt.message_id,
        session_id=attempt.session_id,
        identity_kind=attempt.identity.kind if attempt.identity else None,
        identity_verified=bool(attempt.identity and attempt.identity.verified),
        delivery_status=attempt.status,
        agent_id=request.agent_id,
    )
    contact.error_code = attempt.error_code
    contact.segments = attempt.segments
    contact.template = attempt.template
    contact.consent_action = request.consent_action
    contact.delivery_rank = status_rank(attempt.status) or None
    return contact


def _email_reference(request: Outbound, message_id: str, now: datetime) -> EmailReference:
    """Point the Message-ID of a sent email at its case, so the citizen's reply joins it."""
    return EmailReference(
        email_reference_key(message_id),
        "CASE",
        case_id=request.case_id,
        reference=request.case_reference or "",
        agency_id=request.agency.agency_id,
        citizen_id=request.citizen_id,
        recorded_at=isoformat_z(now),
        direction="outbound",
    )


def _email_subject(request: Outbound, language: str) -> str:
    if request.case_reference:
        reference = format_reference(request.case_reference)
        return prompts.text("email_subject_case", language, reference=reference)
    return prompts.text("email_subject", language, agency=request.agency.name)


def _language(request: Outbound, profile: CitizenProfile | None) -> str:
    requested = request.language or (profile.language if profile else None)
    return request.agency.language_for(requested)


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def _case_of(agency: AgencyConfig, citizen_id: str, case_id: str) -> Case:
    try:
        case = Case.get(case_key(case_id), "CASE")
    except Case.DoesNotExist as error:
        raise NotFoundError(f"case {case_id!r} not found", field="case_id") from error
    if case.agency_id != agency.agency_id or case.citizen_id != citizen_id:
        raise NotFoundError(f"case {case_id!r} not found", field="case_id")
    return case
