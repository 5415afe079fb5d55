"""Record a citizen's message on the timeline and attach it to a case.

A message from a known citizen costs one read (the identity link, which carries
the citizen's open case per agency) and one TransactWriteItems call holding the
contact, its dedupe marker and the case update. Quoting a case reference adds
two reads (reference, then case).
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.errors import ConflictError, DuplicateEventError
from chalicelib.journey import consent_changes, lifecycle, prompts
from chalicelib.journey.models import (
    CHAT,
    OPEN,
    OPEN_STATUSES,
    Identity,
    InboundMessage,
    InboundResult,
)
from chalicelib.journey.records import (
    contact_id_for,
    identity_entry,
    new_case_items,
    new_claim,
    new_contact,
    new_email_reference,
    new_id,
    new_link,
    new_marker,
    new_profile,
)
from chalicelib.journey.references import find_references, format_reference, new_reference
from chalicelib.notify import chat as chat_outbox
from chalicelib.notify import sender as notify
from chalicelib.observability import logger
from chalicelib.store.models import (
    Case,
    CaseReference,
    ChatSession,
    CitizenCase,
    CitizenProfile,
    Contact,
    DedupeMarker,
    IdentityLink,
    MergeRecord,
    case_key,
    chat_key,
    citizen_key,
    event_key,
    identity_key,
    queue_key,
    reference_key,
)
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import replies, waits

# Attempts of one message when a concurrent write changed what it read first.
MAX_ATTEMPTS = 4
# The tag of the update that joins a remembered case. That update fails once
# the case is resolved or closed, because identity links and sessions still name it.
OPEN_CASE_TAG = "open case"
EMAIL_REFERENCE_TAG = "email reference"


@dataclass
class _Plan:
    """The decisions for one message, filled in step by step before the commit."""

    citizen_id: str | None = None
    language: str | None = None
    link: IdentityLink | None = None
    # True when this message creates `link`, so the case goes into the new item.
    link_is_new: bool = False
    case_id: str | None = None
    reference: str | None = None
    case_opened: bool = False
    # The status of a quoted case that this message reopens.
    reopened_from: str | None = None
    # True after a write failed because the case the link or chat session
    # remembers is no longer open, so this attempt reads that case's status.
    recheck_open_case: bool = False
    # Links of the sender's other verified identities to the same citizen, each
    # with whether this message creates it, and the identities still to be linked.
    other_links: list[tuple[IdentityLink, bool]] = field(default_factory=list)
    unlinked: list[Identity] = field(default_factory=list)
    transaction: Transaction = field(default_factory=Transaction)


def record_inbound(message: InboundMessage) -> InboundResult:
    """Record one inbound message exactly once and return where it landed.

    A consent keyword (STOP, START, HELP...) opens no case: `consent_changes` records it.
    """
    action = consent_changes.keyword_of(message)
    if action is not None:
        return consent_changes.record_keyword(message, action)
    recheck_open_case = False
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            message = _refresh_channel_case(message)
        try:
            result = _record_once(message, utc_now(), recheck_open_case)
        except DuplicateEventError:
            result = _recorded_result(message)
        except TransactionConflictError as error:
            if attempt == MAX_ATTEMPTS:
                raise
            recheck_open_case = recheck_open_case or OPEN_CASE_TAG in error.tags
            if EMAIL_REFERENCE_TAG in error.tags:
                message = replace(message, thread_id_recorded=True)
            logger.info("inbound write retried", extra={"failed": error.tags, "attempt": attempt})
            continue
        replies.resume_waiting_workflow(message, result)
        return result
    raise AssertionError("unreachable")


def _refresh_channel_case(message: InboundMessage) -> InboundMessage:
    """Re-read a chat session's case before a retry: a concurrent message may have set it."""
    if message.session_id is None:
        return message
    try:
        session = ChatSession.get(chat_key(message.session_id), "SESSION")
    except ChatSession.DoesNotExist:
        return message
    return replace(
        message, channel_case_id=session.case_id, channel_case_reference=session.case_reference
    )


def _record_once(
    message: InboundMessage, now: datetime, recheck_open_case: bool = False
) -> InboundResult:
    plan = _Plan(
        citizen_id=message.citizen_id,
        language=message.language,
        recheck_open_case=recheck_open_case,
    )
    if message.sender is not None and message.sender.verified:
        _find_owner(message, plan)
    elif message.sender is not None:
        _find_claim(message, plan)
    quoted = _quoted_case(message)
    if quoted is not None and message.sender is not None and message.sender.verified:
        _apply_proof(message, plan, quoted, now)
    if plan.citizen_id is None:
        _add_new_citizen(message, plan, now)
    plan.language = plan.language or message.agency.default_language
    _link_other_identities(message, plan, now)

    _choose_case(message, plan, quoted, now)
    contact = _add_contact(message, plan, now)
    if plan.case_opened:
        _announce_case(message, plan, contact.contact_id, now)
    plan.transaction.commit()

    if plan.case_opened and message.channel != CHAT:
        notify.send_text(
            agency=message.agency,
            channel=message.channel,
            citizen_id=plan.citizen_id,
            to=message.sender,
            text=_case_notice(plan),
            case_id=plan.case_id,
            case_reference=plan.reference,
            inbound_at=message.occurred_at,
        )
    if plan.case_opened and lifecycle.starts_with_complaint_keyword(message.body):
        lifecycle.file_complaint_from_message(message.agency, plan.case_id)
    if plan.reopened_from is not None:
        lifecycle.case_reopened(message.agency, plan.case_id, plan.reopened_from)
    return InboundResult(
        contact_id=contact.contact_id,
        citizen_id=plan.citizen_id,
        case_id=plan.case_id,
        case_reference=plan.reference,
        case_opened=plan.case_opened,
        duplicate=False,
        language=plan.language,
    )


def _owner_link(kind: str, value: str) -> IdentityLink | None:
    try:
        return IdentityLink.get(identity_key(kind, value), "LINK")
    except IdentityLink.DoesNotExist:
        return None


def _find_owner(message: InboundMessage, plan: _Plan) -> None:
    """Find the citizen behind the sender's verified identities, in one read.

    The first identity with an owner link names the citizen. Identities without a link
    are linked to that citizen by this message. An identity owned by another citizen
    is left alone, because only an agent's merge may join two profiles.
    """
    sender = message.sender
    identities = [sender, *(item for item in message.other_identities if item.verified)]
    if len(identities) == 1:
        link = _owner_link(sender.kind, sender.value)
        links = {link.pk: link} if link is not None else {}
    else:
        keys = [(identity_key(item.kind, item.value), "LINK") for item in identities]
        links = {link.pk: link for link in IdentityLink.batch_get(keys)}
    found = [links.get(identity_key(item.kind, item.value)) for item in identities]
    owner = next((link for link in found if link is not None), None)
    if owner is None:
        # The sender's own link is written with the new citizen or by a proof.
        plan.unlinked = identities[1:]
        return
    plan.link = owner
    plan.citizen_id = owner.citizen_id
    plan.language = owner.language
    for identity, link in zip(identities, found, strict=True):
        if link is None:
            plan.unlinked.append(identity)
        elif link is owner:
            continue
        elif link.citizen_id == owner.citizen_id:
            plan.other_links.append((link, False))
        else:
            logger.warning(
                "sender identities belong to two citizens",
                extra={"citizen_id": owner.citizen_id, "other_citizen_id": link.citizen_id},
            )


def _find_claim(message: InboundMessage, plan: _Plan) -> None:
    """Find the provisional profile that earlier unverified messages of this sender opened.

    A channel that did not verify the sender (an email whose DMARC check did not pass) records a
    claim, as a typed email is in a chat. Claims of the same value from other channels
    are anyone's typing, so only this channel's claim is reused.
    """
    sender = message.sender
    claims = IdentityLink.query(
        identity_key(sender.kind, sender.value),
        IdentityLink.sk.startswith("CLAIM#"),
        filter_condition=IdentityLink.source_channel == message.channel,
    )
    claim = next(iter(claims), None)
    if claim is not None:
        plan.link = claim
        plan.citizen_id = claim.citizen_id
        plan.language = claim.language


def _link_other_identities(message: InboundMessage, plan: _Plan, now: datetime) -> None:
    """Link the sender's other verified identities that have no owner yet to the citizen."""
    first_name = plan.link.first_name if plan.link is not None else None
    for identity in plan.unlinked:
        link = new_link(
            identity.kind,
            identity.value,
            plan.citizen_id,
            message.channel,
            plan.language,
            now,
            first_name=first_name,
        )
        plan.transaction.put_new(link, tag="identity link")
        plan.other_links.append((link, True))


def _quoted_case(message: InboundMessage) -> Case | None:
    """Return the first case of this agency whose reference the message quotes."""
    for reference in find_references(message.body):
        try:
            pointer = CaseReference.get(reference_key(reference), "CASE")
        except CaseReference.DoesNotExist:
            continue
        if pointer.agency_id != message.agency.agency_id:
            logger.info("reference of another agency ignored", extra={"case_id": pointer.case_id})
            continue
        try:
            return Case.get(case_key(pointer.case_id), "CASE")
        except Case.DoesNotExist:
            continue
    return None


def _apply_proof(message: InboundMessage, plan: _Plan, case: Case, now: datetime) -> None:
    """Join a provisional profile to a verified sender who quotes its case reference.

    The reference was sent only to whoever opened the case, so quoting it from
    a verified identity proves that both are the same person.
    """
    owner_id = case.citizen_id
    if owner_id == plan.citizen_id:
        return
    try:
        owner = CitizenProfile.get(citizen_key(owner_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return
    if not owner.provisional or owner.merged_into:
        return
    stamp = isoformat_z(now)
    transaction = plan.transaction
    sender = message.sender
    if plan.citizen_id is None:
        plan.citizen_id = owner_id
        plan.language = owner.language
        plan.link = new_link(
            sender.kind,
            sender.value,
            owner_id,
            message.channel,
            owner.language or message.agency.default_language,
            now,
            first_name=owner.first_name,
        )
        plan.link_is_new = True
        transaction.put_new(plan.link, tag="identity link")
        transaction.update(
            CitizenProfile(citizen_key(owner_id), "PROFILE"),
            [
                CitizenProfile.provisional.set(False),
                CitizenProfile.channels.add({message.channel}),
                CitizenProfile.verified_identities.add({identity_entry(sender.kind, sender.value)}),
                CitizenProfile.updated_at.set(stamp),
            ],
            tag="profile",
            condition=CitizenProfile.provisional == True,  # noqa: E712 - pynamodb condition
        )
        logger.info("claim proven by reference", extra={"citizen_id": owner_id})
        return
    transaction.update(
        CitizenProfile(citizen_key(owner_id), "PROFILE"),
        [CitizenProfile.merged_into.set(plan.citizen_id), CitizenProfile.updated_at.set(stamp)],
        tag="merged profile",
        condition=CitizenProfile.merged_into.does_not_exist(),
    )
    transaction.update(
        CitizenProfile(citizen_key(plan.citizen_id), "PROFILE"),
        [CitizenProfile.merged_from.add({owner_id}), CitizenProfile.updated_at.set(stamp)],
        tag="surviving profile",
        condition=CitizenProfile.pk.exists(),
    )
    transaction.put(
        MergeRecord(
            citizen_key(plan.citizen_id),
            f"MERGE#{owner_id}",
            merged_citizen_id=owner_id,
            surviving_citizen_id=plan.citizen_id,
            reason="case reference quoted from a verified identity",
            proof=case.reference,
            merged_at=stamp,
        ),
        tag="merge record",
    )
    logger.info(
        "profiles merged", extra={"citizen_id": plan.citizen_id, "merged_citizen_id": owner_id}
    )


def _add_new_citizen(message: InboundMessage, plan: _Plan, now: datetime) -> None:
    """Open a profile for a sender never seen before: verified, or provisional for a claim."""
    plan.citizen_id = new_id()
    plan.language = message.agency.default_language
    sender = message.sender
    plan.transaction.put_new(
        new_profile(
            plan.citizen_id,
            plan.language,
            message.channel,
            provisional=not sender.verified,
            now=now,
            identities=[sender],
        ),
        tag="profile",
    )
    build = new_link if sender.verified else new_claim
    plan.link = build(
        sender.kind, sender.value, plan.citizen_id, message.channel, plan.language, now
    )
    plan.link_is_new = True
    plan.transaction.put_new(plan.link, tag="identity link")


def _choose_case(message: InboundMessage, plan: _Plan, quoted: Case | None, now: datetime) -> None:
    """Join the answered or quoted case, else the channel's or citizen's active case, else
    open one."""
    stamp = isoformat_z(now)
    # An answer comes first, because a reply to an email question quotes the case's
    # reference in its subject, and quoting it would reopen the resolved case.
    if (answered := _answered_case(message, plan)) is not None:
        _join_answered(message, plan, answered, stamp)
    elif quoted is not None:
        _join_quoted(message, plan, quoted, stamp)
    elif message.channel_case_id is not None and _still_open(plan, message.channel_case_id):
        plan.case_id = message.channel_case_id
        plan.reference = message.channel_case_reference
        _join_open(message, plan, stamp)
    elif (active := _active_case(message, plan, now)) is not None:
        plan.case_id, plan.reference, last_activity = active
        _join_open(message, plan, max(stamp, last_activity))
    else:
        _open_case(message, plan, now)
        stamp = isoformat_z(now)
    _remember_case(message, plan, stamp)


def _active_case(
    message: InboundMessage, plan: _Plan, now: datetime
) -> tuple[str, str, str] | None:
    if plan.link is None or not plan.link.open_cases:
        return None
    entry = plan.link.open_cases.as_dict().get(message.agency.agency_id)
    if not entry:
        return None
    window = timedelta(days=message.agency.active_case_days)
    if parse_utc(entry["last_activity_at"]) < now - window:
        return None
    if not _still_open(plan, entry["case_id"]):
        return None
    return entry["case_id"], entry["reference"], entry["last_activity_at"]


def _still_open(plan: _Plan, case_id: str) -> bool:
    """Return whether a remembered case may be joined, reading it only on a retry."""
    if not plan.recheck_open_case:
        return True
    try:
        return Case.get(case_key(case_id), "CASE").status in OPEN_STATUSES
    except Case.DoesNotExist:
        return False


def _join_open(message: InboundMessage, plan: _Plan, stamp: str) -> None:
    plan.transaction.update(
        Case(case_key(plan.case_id), "CASE"),
        [
            Case.last_activity_at.set(stamp),
            Case.last_channel.set(message.channel),
            Case.contact_count.add(1),
            Case.gsi1sk.set(f"{stamp}#{plan.case_id}"),
            _answered(stamp),
        ],
        tag=OPEN_CASE_TAG,
        condition=Case.status.is_in(*OPEN_STATUSES),
    )


def _answered_case(message: InboundMessage, plan: _Plan) -> Case | None:
    """Return the case of a workflow question this message answers, such as a survey's.

    An answer ("5" to a satisfaction survey of a resolved case) belongs to the case it
    answers, whatever that case's status, and must not open a new case. Messages that
    no workflow parser reads as an answer cost no read here.
    """
    if plan.citizen_id is None:
        return None
    case_id = waits.answered_case_id(
        plan.citizen_id,
        message.agency.agency_id,
        message.body,
        message.content_kind,
        message.content,
    )
    if case_id is None:
        return None
    try:
        return Case.get(case_key(case_id), "CASE")
    except Case.DoesNotExist:
        return None


def _join_answered(message: InboundMessage, plan: _Plan, case: Case, stamp: str) -> None:
    """Join the answered case without changing its status: an answer reopens nothing."""
    plan.case_id = case.case_id
    plan.reference = case.reference
    stamp = max(stamp, case.last_activity_at)
    plan.transaction.update(
        Case(case_key(case.case_id), "CASE"),
        [
            Case.last_activity_at.set(stamp),
            Case.last_channel.set(message.channel),
            Case.contact_count.add(1),
            Case.gsi1sk.set(f"{stamp}#{case.case_id}"),
        ],
        tag="answered case",
        condition=Case.status == case.status,
    )


def _answered(stamp: str):
    """Return the update action that keeps the time of the citizen's first message since
    the case went to waiting_citizen. The deadline workflow restarts a paused clock from it.
    """
    return Case.citizen_answered_at.set(Case.citizen_answered_at | stamp)


def _join_quoted(message: InboundMessage, plan: _Plan, case: Case, stamp: str) -> None:
    """Join a quoted case, reopening it when it was resolved or closed."""
    plan.case_id = case.case_id
    plan.reference = case.reference
    stamp = max(stamp, case.last_activity_at)
    actions = [
        Case.last_activity_at.set(stamp),
        Case.last_channel.set(message.channel),
        Case.contact_count.add(1),
        Case.gsi1sk.set(f"{stamp}#{case.case_id}"),
        _answered(stamp),
    ]
    if case.status not in OPEN_STATUSES:
        actions += [Case.status.set(OPEN), Case.gsi1pk.set(queue_key(case.agency_id, OPEN))]
        plan.transaction.update(
            CitizenCase(citizen_key(case.citizen_id), case_key(case.case_id)),
            [CitizenCase.status.set(OPEN)],
            tag="citizen case",
        )
        plan.reopened_from = case.status
        logger.info("case reopened by reference", extra={"case_id": case.case_id})
    plan.transaction.update(
        Case(case_key(case.case_id), "CASE"),
        actions,
        tag="quoted case",
        condition=Case.status == case.status,
    )


def _open_case(message: InboundMessage, plan: _Plan, now: datetime) -> None:
    plan.case_id = new_id()
    plan.reference = new_reference()
    plan.case_opened = True
    case, pointer, citizen_case = new_case_items(
        plan.case_id,
        plan.reference,
        message.agency.agency_id,
        plan.citizen_id,
        message.channel,
        message.body,
        now,
        session_id=message.session_id,
    )
    plan.transaction.put_new(case, tag="case")
    plan.transaction.put_new(pointer, tag="reference")
    plan.transaction.put_new(citizen_case, tag="citizen case")


def _remember_case(message: InboundMessage, plan: _Plan, stamp: str) -> None:
    """Copy the chosen case where the next message of this channel will look first."""
    entry = {
        "case_id": plan.case_id,
        "reference": plan.reference,
        "last_activity_at": stamp,
        # The start of the 24-hour window of WhatsApp and Messenger replies.
        "last_inbound_at": isoformat_z(message.occurred_at),
    }
    if message.thread_id is not None:
        # The email's Message-ID, which a reply cites in its In-Reply-To header.
        entry["last_message_id"] = message.thread_id
    agency_id = message.agency.agency_id
    if message.session_id is not None:
        # Conditional on the case read, so two messages racing to open the
        # session's first case cannot both win: the loser retries and joins.
        read = message.channel_case_id
        plan.transaction.update(
            ChatSession(chat_key(message.session_id), "SESSION"),
            [ChatSession.case_id.set(plan.case_id), ChatSession.case_reference.set(plan.reference)],
            tag="chat session",
            condition=(
                ChatSession.case_id == read if read else ChatSession.case_id.does_not_exist()
            ),
        )
    elif plan.link is not None and plan.link_is_new:
        plan.link.open_cases = {agency_id: entry}
    elif plan.link is not None:
        _update_link_case(plan, plan.link, agency_id, entry)
    for link, is_new in plan.other_links:
        if is_new:
            link.open_cases = {agency_id: entry}
        else:
            _update_link_case(plan, link, agency_id, entry)


def _update_link_case(plan: _Plan, link: IdentityLink, agency_id: str, entry: dict) -> None:
    """Point a link at the chosen case, unless another message changed its case since it was read.

    Two messages that both found no active case would otherwise open two cases;
    with this condition the second one fails, re-reads the link and joins.
    """
    remembered = (link.open_cases.as_dict() if link.open_cases else {}).get(agency_id) or {}
    read = remembered.get("case_id")
    path = IdentityLink.open_cases[agency_id]["case_id"]
    plan.transaction.update(
        IdentityLink(link.pk, link.sk),
        [IdentityLink.open_cases[agency_id].set(entry)],
        tag="identity link",
        condition=path == read if read else path.does_not_exist(),
    )


def _add_contact(message: InboundMessage, plan: _Plan, now: datetime):
    contact = new_contact(
        contact_id=contact_id_for(message.channel, message.external_id),
        citizen_id=plan.citizen_id,
        agency_id=message.agency.agency_id,
        channel=message.channel,
        direction="inbound",
        kind="message",
        occurred_at=message.occurred_at,
        now=now,
        body=message.body,
        case_id=plan.case_id,
        case_reference=plan.reference,
        external_id=message.external_id,
        session_id=message.session_id,
        identity_kind=message.sender.kind if message.sender else None,
        identity_verified=bool(message.sender and message.sender.verified),
    )
    plan.transaction.put_new(contact, tag="contact")
    marker = new_marker(message.channel, message.external_id, contact, now, plan.case_opened)
    plan.transaction.put_new(marker, tag="dedupe")
    if message.thread_id is not None and message.sender is not None:
        _add_email_reference(message, plan, now)
    if message.session_id is not None:
        chat_outbox.add_message(
            plan.transaction,
            message.session_id,
            contact.contact_id,
            "inbound",
            "citizen",
            message.body,
            message.occurred_at,
        )
    return contact


def _add_email_reference(message: InboundMessage, plan: _Plan, now: datetime) -> None:
    """Point the email's Message-ID at its case, unless a pointer for that id exists.

    The sender chooses its Message-ID, so overwriting an existing pointer would let a
    forged id move another sender's thread into this case.
    """
    if message.thread_id_recorded:
        return
    pointer = new_email_reference(
        message.thread_id,
        plan.case_id,
        plan.reference,
        message.agency.agency_id,
        plan.citizen_id,
        now,
        message.sender,
    )
    # A pointer written since the caller read fails this condition, and the retry skips it.
    plan.transaction.put_new(pointer, tag=EMAIL_REFERENCE_TAG)


def _case_notice(plan: _Plan) -> str:
    return prompts.text("case_opened", plan.language, reference=format_reference(plan.reference))


def _announce_case(message: InboundMessage, plan: _Plan, contact_id: str, now: datetime) -> None:
    """Add the reference notice of a new chat case to the same transaction."""
    if message.session_id is None:
        return
    chat_outbox.add_notice(
        plan.transaction,
        agency_id=message.agency.agency_id,
        session_id=message.session_id,
        citizen_id=plan.citizen_id,
        text=_case_notice(plan),
        case_id=plan.case_id,
        case_reference=plan.reference,
        reply_to=contact_id,
        now=now,
    )


def _check_same_chat_text(marker: DedupeMarker, text: str) -> None:
    """Raise ConflictError when a chat idempotency key comes back with other text.

    A browser that reuses a key for a new message would otherwise lose that
    message silently behind the first one.
    """
    contact = Contact.get(citizen_key(marker.citizen_id), marker.contact_sk)
    if contact.body != text:
        raise ConflictError(
            "idempotency_key was already used for a message with different text; use a new key",
            field="idempotency_key",
        )


def _recorded_result(message: InboundMessage) -> InboundResult:
    """Return where an already recorded message landed, from its dedupe marker."""
    marker = DedupeMarker.get(event_key(message.channel, message.external_id), "EVENT")
    if message.channel == CHAT:
        _check_same_chat_text(marker, message.body)
    logger.info("duplicate event ignored", extra={"citizen_id": marker.citizen_id})
    return InboundResult(
        contact_id=marker.contact_id,
        citizen_id=marker.citizen_id,
        case_id=marker.case_id,
        case_reference=marker.case_reference,
        case_opened=bool(marker.case_opened),
        duplicate=True,
        language=message.language or message.agency.default_language,
    )
