"""send_link: the phone line offers to continue in writing and sends the way there.

What is sent:
- the case summary: reference, status and, when the agency has one, its chat address.
  It is sent when the caller keyed a valid reference of this agency, or when the
  caller id is the verified phone of a citizen with an active case here;
- otherwise the agency's chat address (`chat_url`).

Where it goes. A summary goes only to a verified phone or WhatsApp identity of the
case's owner, never to a caller id that is only a claim, because a caller id can be
spoofed: whoever keys someone else's reference makes the owner receive their own
summary, and learns nothing. The chat address says nothing about a case, so it goes to
the caller id, verified or not.

Channels: `Parameters.channel` ("sms" or "whatsapp") first. Without it, a chat link to
a caller id that is only a claim goes by SMS first, because nothing shows that the
number has WhatsApp, and anything else by the recipient's preferred one of the two,
else WhatsApp. Then the other. A channel the recipient opted out of is passed over,
and so is WhatsApp when the number's WhatsApp owner, if another citizen, opted out.
Outside WhatsApp's 24-hour window the agency's "case_update" or "chat_link" template
carries the text.

The answer adds `link_sent` ("true"/"false"), `link_channel` ("sms"/"whatsapp"),
`link_content` ("link" or "case_summary") and, when nothing was sent, `reason`. It
follows the last attempt: `ok` when it was sent, `error` when a provider failed or the
time ran out, and `not_found` when no channel could take it (opted out, no verified
identity, no template), a branch the flow can use to offer the queue or a callback.

Connect retries a failed invocation, so each call sends at most one message per
requested channel: the marker `EVENT#call_link#<call id>#<channel or "preferred">` is
claimed before anything is sent, and a repeated invocation answers from the contact
it names.
"""

from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from chalicelib.clock import utc_now
from chalicelib.journey import call_actions, calls, idempotency, ivr_figures, prompts
from chalicelib.journey.call_actions import CallState
from chalicelib.journey.models import SMS, WHATSAPP
from chalicelib.journey.references import format_reference, parse_reference
from chalicelib.notify import sender
from chalicelib.notify.attempts import FAILED, OPTED_OUT, TIMED_OUT
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CitizenProfile,
    Contact,
    DedupeMarker,
    IdentityLink,
    case_key,
    citizen_key,
    event_key,
    identity_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError

# Dedupe channel of links sent from calls: `<call id>#<requested channel or "preferred">`.
LINK_EVENTS = "call_link"
LINK_CHANNELS = frozenset({SMS, WHATSAPP})
CHANNEL_NAMES = {SMS: "SMS", WHATSAPP: "WhatsApp"}
# The content of a send, stored as the outbound contact's kind.
LINK = "link"
SUMMARY = "case_summary"
# The WhatsApp template purposes that carry each content outside the 24-hour window.
TEMPLATES = {LINK: "chat_link", SUMMARY: sender.CASE_UPDATE}
ACTION = "send_link"


@dataclass(frozen=True)
class _Send:
    """The plan of one send_link: content, recipient, channels, and who the call is recorded on."""

    content: str
    # The citizen whose channels the message takes and whose timeline records it.
    recipient_id: str
    # The citizen whose timeline records the call itself.
    caller_id: str
    text: str
    case: Case | None
    # The caller id, for a chat link; a summary goes to verified identities only.
    phone: str | None
    channels: frozenset[str]
    pending: Transaction | None


def send_link(call: calls.Call, requested: str | None, keyed: str | None) -> dict[str, str]:
    """Send the chat link or the case summary by SMS or WhatsApp once; returns the answer."""
    caller = calls.find_caller(call)
    language = calls.caller_language(call, caller)
    if requested is not None and requested not in LINK_CHANNELS:
        return _not_sent("invalid", language, "channel_invalid")
    reference = parse_reference(keyed) if keyed else None
    if keyed and reference is None:
        return _not_sent("invalid", language, "reference_invalid")

    external_id = f"{call.call_id}#{requested or 'preferred'}"
    action_key = event_key(LINK_EVENTS, external_id)
    state = call_actions.read_call_state(call.call_id, action_key, reference)
    if reference is not None and (
        state.case is None or state.case.agency_id != call.agency.agency_id
    ):
        return _not_sent("not_found", language, "case_not_found")
    if state.action_marker is not None:
        return _earlier_answer(state.action_marker, language)

    now = utc_now()
    case = state.case or _remembered_case(caller, call, now)
    if case is None and call.caller is None:
        return _not_sent("invalid", language, "link_number_withheld")
    if case is None and not call.agency.chat_url:
        logger.warning("link not sent: agency has no chat url")
        return calls.error_answer(language, "not_configured", prompt="action_unavailable")
    if case is None and caller.citizen_id is None:
        caller = calls.new_caller(call)
    send = _plan(call, caller, case, requested, language)
    case_id = send.case.case_id if send.case else None
    case_reference = send.case.reference if send.case else None
    if not idempotency.claim(action_key, send.recipient_id, now, case_id, case_reference):
        marker = DedupeMarker.get(action_key, "EVENT")
        return _earlier_answer(marker, language)

    first = _first(requested, send, caller)
    delivery = sender.deliver(_outbound(call, send, language), first, fallback=True)
    _record(call, send, state, action_key, delivery, now)
    if delivery.reached:
        ivr_figures.count_choice(call, ivr_figures.DEFLECTED, now)
    return _answer(delivery.final, language)


def _remembered_case(caller: calls.Caller, call: calls.Call, now: datetime) -> Case | None:
    """Return the active case here of a caller whose caller id is a verified identity."""
    if not caller.known:
        return None
    remembered = call_actions.remembered_case(caller, call.agency, now)
    if remembered is None:
        return None
    try:
        case = Case.get(case_key(remembered.case_id), "CASE")
    except Case.DoesNotExist:
        return None
    return case if case.agency_id == call.agency.agency_id else None


def _plan(
    call: calls.Call,
    caller: calls.Caller,
    case: Case | None,
    requested: str | None,
    language: str,
) -> _Send:
    url = call.agency.chat_url
    if case is None:
        return _Send(
            content=LINK,
            recipient_id=caller.citizen_id,
            caller_id=caller.citizen_id,
            text=prompts.text("chat_link", language, url=url),
            case=None,
            phone=call.caller.value,
            channels=_link_channels(call.caller.value, caller.citizen_id, call.agency.agency_id),
            pending=caller.pending,
        )
    values = {
        "reference": format_reference(case.reference),
        "status": prompts.status_word(case.status, language),
    }
    text = (
        prompts.text("case_summary_link", language, url=url, **values)
        if url
        else prompts.text("case_summary", language, **values)
    )
    return _Send(
        content=SUMMARY,
        recipient_id=case.citizen_id,
        # As case_status records it: the keyed reference was sent only to the case's owner.
        caller_id=caller.citizen_id or case.citizen_id,
        text=text,
        case=case,
        phone=None,
        channels=LINK_CHANNELS,
        pending=None,
    )


def _link_channels(phone: str, citizen_id: str, agency_id: str) -> frozenset[str]:
    """Return SMS and WhatsApp, without WhatsApp when the number's other WhatsApp owner opted out.

    The recipient's own opt-outs are checked by the notify service, but a WhatsApp
    number can belong to another profile than the caller id's phone identity.
    """
    try:
        owner = IdentityLink.get(identity_key(WHATSAPP, phone), "LINK")
    except IdentityLink.DoesNotExist:
        return LINK_CHANNELS
    if owner.citizen_id == citizen_id:
        return LINK_CHANNELS
    try:
        profile = CitizenProfile.get(citizen_key(owner.citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return LINK_CHANNELS
    if profile.is_opted_out(agency_id, WHATSAPP):
        logger.info(
            "whatsapp passed over: its owner opted out", extra={"citizen_id": owner.citizen_id}
        )
        return frozenset({SMS})
    return LINK_CHANNELS


def _outbound(call: calls.Call, send: _Send, language: str) -> sender.Outbound:
    return sender.Outbound(
        agency=call.agency,
        citizen_id=send.recipient_id,
        text=send.text,
        case_id=send.case.case_id if send.case else None,
        case_reference=send.case.reference if send.case else None,
        kind=send.content,
        template=TEMPLATES[send.content],
        language=language,
        channels=send.channels,
        phone=send.phone,
    )


def _first(requested: str | None, send: _Send, caller: calls.Caller) -> sender.Route | None:
    """Return the first channel to try; None lets the recipient's preferred channel lead."""
    if requested:
        return sender.Route(requested)
    if send.content == LINK and not caller.known:
        return sender.Route(SMS)
    return None


def _record(
    call: calls.Call,
    send: _Send,
    state: CallState,
    action_key: str,
    delivery: sender.Delivery,
    now: datetime,
) -> None:
    """Write the send's contacts, the marker's pointer and the call's action in one transaction.

    The message is out by now, so a failed write is logged instead of raised.
    """
    final = delivery.final

    def build(call_marker):
        transaction = Transaction()
        if send.pending is not None:
            transaction.extend(send.pending)
        transaction.extend(delivery.transaction)
        transaction.update(
            DedupeMarker(action_key, "EVENT"),
            [DedupeMarker.contact_sk.set(final.sk), DedupeMarker.contact_id.set(final.contact_id)],
            tag="link marker",
        )
        call_actions.add_call_writes(
            transaction, call, send.caller_id, ACTION, send.case, call_marker, now
        )
        return transaction

    try:
        call_actions.commit_with_call(build, call.call_id, state.call_marker)
    except (PynamoDBException, TransactionConflictError) as error:
        logger.error(
            "link sent but not recorded",
            extra={
                "citizen_id": send.recipient_id,
                "channel": final.channel,
                "error_type": type(error).__name__,
            },
        )
        return
    logger.info(
        "link recorded",
        extra={
            "citizen_id": send.recipient_id,
            "content": send.content,
            "channel": final.channel,
            "delivery_status": final.delivery_status,
        },
    )


def _earlier_answer(marker: DedupeMarker, language: str) -> dict[str, str]:
    """Return the answer of the send an earlier invocation of the call claimed."""
    if not marker.contact_sk:
        # NOTE: an invocation that stopped between its claim and its commit leaves the
        # marker so until it expires, and the call cannot send that link again.
        logger.warning("link still being sent by another invocation")
        return {**calls.error_answer(language, "in_progress"), "link_sent": "false"}
    contact = Contact.get(citizen_key(marker.citizen_id), marker.contact_sk)
    logger.info("link already sent", extra={"citizen_id": marker.citizen_id})
    return _answer(contact, language)


def _answer(final: Contact, language: str) -> dict[str, str]:
    """Return the answer that the last attempt of a send calls for."""
    if final.delivery_status in ("sent", "delivered"):
        prompt = "summary_sent" if final.kind == SUMMARY else "link_sent"
        channel_name = CHANNEL_NAMES.get(final.channel, final.channel)
        return {
            "result": "ok",
            "language": language,
            "link_sent": "true",
            "link_channel": final.channel,
            "link_content": final.kind,
            "prompt": prompts.text(prompt, language, channel=channel_name),
        }
    skipped = final.skipped_channels
    # A contact read from the table contains a MapAttribute, one built here a dict.
    reasons = dict(skipped.as_dict() if hasattr(skipped, "as_dict") else skipped or {})
    reasons[final.channel] = final.error_code or final.delivery_status
    if final.delivery_status == FAILED or TIMED_OUT in reasons.values():
        return {**calls.error_answer(language, "send_failed"), "link_sent": "false"}
    reason = OPTED_OUT if OPTED_OUT in reasons.values() else reasons[final.channel]
    answer = _not_sent("not_found", language, "link_not_possible")
    return {**answer, "link_content": final.kind, "reason": reason}


def _not_sent(result: str, language: str, prompt: str) -> dict[str, str]:
    return {**calls.short_answer(result, language, prompt), "link_sent": "false"}
