"""Read a case and reply to the citizen on the channel they last used for it.

A reply goes through the notify service, which tries the case's last channel, then
the citizen's preferred channel, then every other channel that reaches them, and
records each attempt on the timeline. The idempotency key is claimed with a dedupe
marker before anything is sent, so a retry with the same key sends nothing twice:
it returns the reply the key already sent. The contacts, the marker's pointer to the
final contact and the case update are then written in one transaction.
"""

from dataclasses import dataclass

from chalicelib.agencies import get_agency
from chalicelib.agents.access import Agent, HiddenError
from chalicelib.agents.schemas import CaseView, DeadlineView, ReplyResult
from chalicelib.clock import parse_utc, utc_now
from chalicelib.errors import ConflictError, ForbiddenError, NotFoundError
from chalicelib.journey import idempotency, lifecycle
from chalicelib.journey.models import CHAT, EMAIL, MESSENGER, SMS, WHATSAPP
from chalicelib.journey.references import format_reference
from chalicelib.notify import sender
from chalicelib.notify.attempts import DELIVERED, SENT
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    Contact,
    DedupeMarker,
    case_key,
    citizen_key,
    event_key,
)
from chalicelib.workflows import complaints, deadlines

# Dedupe channel of agents' replies, whose external id is `<case id>#<idempotency key>`.
REPLY_EVENTS = "agent_reply"
SUPERVISOR = "supervisor"
# Channels a reply to a case can go out on.
REPLY_CHANNELS = frozenset({CHAT, SMS, WHATSAPP, MESSENGER, EMAIL})
# The WhatsApp template purpose that carries a reply outside the 24-hour window.
REPLY_TEMPLATE = sender.CASE_UPDATE
# The reason a channel did not carry a reply, as the 409 response states it.
REASONS = {
    "opted_out": "the citizen opted out of this channel",
    "no_identity": "the citizen has no verified identity on this channel",
    "no_session": "the chat session has ended",
    "not_configured": "the agency has no sender configured for this channel",
    "window_closed": "the citizen last wrote more than 24 hours ago and no template applies",
    "no_template": "the agency has no approved template in the citizen's language",
    "text_too_long": "the text is longer than this channel allows",
    "token_unavailable": "the channel's access token could not be read",
    "timed_out": "the provider did not answer in time",
}


@dataclass(frozen=True)
class _Reply:
    contact: Contact
    duplicate: bool

    @property
    def delivered(self) -> bool:
        return self.contact.delivery_status in (SENT, DELIVERED)


def get_case(agent: Agent, case_id: str) -> CaseView:
    """Return a case of the agent's agency; raises NotFoundError for any other case."""
    return _view(_visible_case(agent, case_id))


def update_case(
    agent: Agent, case_id: str, update: lifecycle.CaseUpdate, expected_version: int
) -> CaseView:
    """Change a case of the agent's agency as journey/lifecycle.py describes.

    Raises NotFoundError for a case the agent may not see, ConflictError when the case's
    version is not `expected_version`, and ForbiddenError when an agent who is not a
    supervisor assigns the case to someone else or unassigns another agent.
    """
    case = _visible_case(agent, case_id)
    _check_assignment(agent, case, update)
    actor = lifecycle.Actor("agent", agent.principal.subject)
    result = lifecycle.change_case(case, update, actor, expected_version)
    return _view(result.case)


def _check_assignment(agent: Agent, case: Case, update: lifecycle.CaseUpdate) -> None:
    if update.assigned_agent_id is lifecycle.UNSET or SUPERVISOR in agent.principal.roles:
        return
    subject = agent.principal.subject
    taking = update.assigned_agent_id == subject
    releasing = update.assigned_agent_id is None and case.assigned_agent_id == subject
    if not (taking or releasing or update.assigned_agent_id == case.assigned_agent_id):
        raise ForbiddenError(
            "assigned_agent_id: an agent may assign a case only to themselves or unassign "
            "their own; ask a supervisor",
            field="assigned_agent_id",
        )


def reply(agent: Agent, case_id: str, text: str, idempotency_key: str) -> ReplyResult:
    """Send an agent's reply once per idempotency key, on the first channel that takes it.

    Raises NotFoundError for a case the agent may not see. Raises ConflictError when no
    channel reaches the citizen, with each channel's reason in the message. It is also
    raised when the key was already used for a different text, or while the key's first
    request is still sending. Undelivered attempts stay on the timeline either way.
    """
    case = _visible_case(agent, case_id)
    external_id = f"{case.case_id}#{idempotency_key}"
    if _claim(case, external_id):
        sent = _send_reply(agent, case, text, external_id)
    else:
        sent = _earlier_reply(external_id, text)
    logger.info(
        "agent reply recorded",
        extra={
            "case_id": case.case_id,
            "citizen_id": case.citizen_id,
            "duplicate": sent.duplicate,
            "channel": sent.contact.channel,
            "delivery_status": sent.contact.delivery_status,
        },
    )
    if not sent.delivered:
        raise ConflictError(_undelivered_message(sent.contact), field="case_id")
    return ReplyResult(
        contact_id=sent.contact.contact_id,
        case_id=case.case_id,
        case_reference=format_reference(case.reference),
        channel=sent.contact.channel,
        sent_at=sent.contact.occurred_at,
        duplicate=sent.duplicate,
        delivery_status=sent.contact.delivery_status,
    )


def _visible_case(agent: Agent, case_id: str) -> Case:
    agent.audit.case_id = case_id
    try:
        case = Case.get(case_key(case_id), "CASE")
    except Case.DoesNotExist as error:
        raise NotFoundError(f"case {case_id!r} not found", field="case_id") from error
    if case.agency_id != agent.agency_id:
        raise HiddenError(
            f"case {case_id!r} not found",
            audit_reason="case belongs to another agency",
            field="case_id",
        )
    agent.audit.citizen_id = case.citizen_id
    agent.audit.reason = "case belongs to the agent's agency"
    return case


def _claim(case: Case, external_id: str) -> bool:
    """Write the key's dedupe marker before sending, and return False when the key was used."""
    key = event_key(REPLY_EVENTS, external_id)
    return idempotency.claim(key, case.citizen_id, utc_now(), case.case_id, case.reference)


def _send_reply(agent: Agent, case: Case, text: str, external_id: str) -> _Reply:
    delivery = sender.notify_case(
        get_agency(case.agency_id),
        case,
        text,
        REPLY_TEMPLATE,
        kind="reply",
        agent_id=agent.principal.subject,
        commit=False,
    )
    final = delivery.final
    transaction = delivery.transaction
    transaction.update(
        DedupeMarker(event_key(REPLY_EVENTS, external_id), "EVENT"),
        [DedupeMarker.contact_sk.set(final.sk), DedupeMarker.contact_id.set(final.contact_id)],
        tag="reply marker",
    )
    if delivery.reached:
        stamp = final.occurred_at
        transaction.update(
            Case(case_key(case.case_id), "CASE"),
            [
                Case.last_activity_at.set(stamp),
                Case.contact_count.add(1),
                Case.gsi1sk.set(f"{stamp}#{case.case_id}"),
            ],
            tag="case",
            condition=Case.agency_id == agent.agency_id,
        )
    transaction.commit()
    return _Reply(final, duplicate=False)


def _earlier_reply(external_id: str, text: str) -> _Reply:
    """Return the reply an idempotency key already sent; raises ConflictError for other text."""
    marker = DedupeMarker.get(event_key(REPLY_EVENTS, external_id), "EVENT")
    if not marker.contact_sk:
        # NOTE: a request that stopped between its claim and its commit leaves the key
        # in this state until the marker expires, so the agent then needs a new key.
        raise ConflictError(
            "a reply with this idempotency_key is still being sent; retry in a few seconds",
            field="idempotency_key",
        )
    contact = Contact.get(citizen_key(marker.citizen_id), marker.contact_sk)
    if contact.body != text:
        raise ConflictError(
            "idempotency_key was already used for a reply with different text; use a new key",
            field="idempotency_key",
        )
    return _Reply(contact, duplicate=True)


def _undelivered_message(contact: Contact) -> str:
    """Describe why a reply reached no channel: each channel with its reason."""
    reasons = dict(contact.skipped_channels.as_dict() if contact.skipped_channels else {})
    reasons[contact.channel] = contact.error_code or contact.delivery_status
    parts = [
        f"{channel}: {REASONS.get(reason, f'the send failed ({reason})')}"
        for channel, reason in reasons.items()
    ]
    return "the reply reached no channel of the citizen; " + "; ".join(parts)


def _view(case: Case) -> CaseView:
    return CaseView(
        case_id=case.case_id,
        reference=format_reference(case.reference),
        agency_id=case.agency_id,
        citizen_id=case.citizen_id,
        status=case.status,
        channel=case.channel,
        last_channel=case.last_channel,
        subject=case.subject,
        opened_at=case.opened_at,
        last_activity_at=case.last_activity_at,
        contact_count=int(case.contact_count or 0),
        version=int(case.version or 1),
        replies_available=case.channel in REPLY_CHANNELS,
        case_type=case.case_type,
        assigned_agent_id=case.assigned_agent_id,
        deadline=_deadline_view(case),
        satisfaction_rating=_optional_int(case.satisfaction_rating),
        linked_case_id=case.linked_case_id,
    )


def _deadline_view(case: Case) -> DeadlineView | None:
    deadline = complaints.from_stored(case)
    if deadline is None:
        return None
    return DeadlineView(
        occurrence=deadline.occurrence,
        case_type=deadline.case_type,
        policy=deadline.policy,
        clock=deadline.clock,
        status=deadline.status,
        paused=deadline.status == deadlines.PAUSED,
        started_at=deadline.started_at,
        remind_at=deadline.remind_at,
        due_at=deadline.due_at,
        head_at=deadline.head_at,
        overdue=deadline.live and parse_utc(deadline.due_at) <= utc_now(),
        escalation_level=deadline.escalation_level,
        reminded_at=deadline.reminded_at,
        escalated_at=deadline.escalated_at,
        paused_at=deadline.paused_at,
        stopped_at=deadline.stopped_at,
        error=deadline.error,
    )


def _optional_int(value) -> int | None:
    return None if value is None else int(value)
