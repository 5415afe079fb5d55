"""The satisfaction survey that follows each resolution of a case.

`start_survey` runs when the case lifecycle resolves a case (`on_status_change`). It
writes the case's `SURVEY#<n>` item (n is the resolution count, which the lifecycle
adds to in the same write, so each resolution gets one survey) and starts the
`satisfaction_survey` state machine, which waits until the send time, asks the
citizen on the channel of their last contact, waits for a rating from any channel,
records it, and opens a recovery case on a rating of 1 or 2. The tasks below are the
state machine's callback steps. Each one moves the survey item with a conditional
update, so a task message that SQS delivers twice acts once.

What stops a survey, as an operator expects it:
- Reopening the case before the question is sent stops the survey, whether an agent
  reopens it or the citizen quotes its reference. The ask step also checks the case's
  status again, for a reopening that races with the send. After the
  question went out, the answer window stays open: the rating is about the
  resolution the citizen saw, and a low one is what a recovery case is for.
- Closing a resolved case stops nothing, because closing is the normal step after a
  resolution and the citizen may still be answering.
- Cancelling a case stops its survey at any step.
- An agency with `surveys_enabled` false gets no new surveys, and scheduled ones end
  unsent when they are due.
"""

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.agencies import AgencyConfig, get_agency
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.journey import lifecycle
from chalicelib.journey.models import CLOSED, OPEN_STATUSES, RESOLVED, SMS, VOICE
from chalicelib.notify import routing
from chalicelib.notify import sender as notify
from chalicelib.observability import logger
from chalicelib.store.models import Case, CitizenProfile, Survey, case_key, citizen_key
from chalicelib.store.models import survey_sort_key as survey_key
from chalicelib.store.transactions import Transaction, TransactionConflictError
from chalicelib.workflows import deadlines, engine, survey_figures, survey_messages, tasks, waits
from chalicelib.workflows.calendar import next_send_time, wait_timestamp
from chalicelib.workflows.survey_answers import parse_rating
from chalicelib.workflows.survey_recovery import LOW_RATING_MAX, RECOVERY, open_recovery_case

KIND = engine.SATISFACTION_SURVEY

SCHEDULED = "scheduled"
SENDING = "sending"
SENT = "sent"
ANSWERED = "answered"
NO_ANSWER = "no_answer"
NOT_SENT = "not_sent"
STOPPED = "stopped"
# Statuses after which the question can no longer be stopped from going out.
ASKED = frozenset({SENDING, SENT, ANSWERED, NO_ANSWER})

# Reasons a survey ended without a question or a rating.
REOPENED = "reopened"
CANCELLED = "cancelled"
DISABLED = "disabled"
NO_CHANNEL = "no_channel"
NO_VERIFIED_PHONE = "no_verified_phone"

waits.register_answers(KIND, parse_rating, survey_messages.ENDED)


def start_survey(case: Case, now: datetime | None = None) -> str | None:
    """Schedule the survey of the case's latest resolution and start its workflow.

    Returns the execution ARN, or None when no survey is due: the agency turned
    surveys off, or the case is itself a recovery case. Calling it again for the same
    resolution starts nothing new.
    """
    now = now or utc_now()
    agency = get_agency(case.agency_id)
    if not agency.surveys_enabled or case.case_type == RECOVERY:
        logger.info(
            "survey not scheduled",
            extra={"case_id": case.case_id, "surveys_enabled": agency.surveys_enabled},
        )
        return None
    occurrence = resolution_count(case)
    send_at = send_time(agency, now)
    _put_scheduled(case, occurrence, send_at, now)
    workflow_input = {
        "send_at": wait_timestamp(send_at),
        "answer_timeout_seconds": agency.survey_answer_seconds,
    }
    result = engine.start_workflow(KIND, case, str(occurrence), workflow_input)
    engine.record_step(
        case,
        KIND,
        "scheduled",
        external_id=_step_id(case.case_id, occurrence, "scheduled"),
        body=f"Satisfaction survey scheduled for {isoformat_z(send_at)}",
    )
    logger.info(
        "survey scheduled",
        extra={"case_id": case.case_id, "occurrence": occurrence, "send_at": isoformat_z(send_at)},
    )
    return result.execution_arn


def stop_survey(case: Case, reason: str) -> bool:
    """Stop the survey of the case's latest resolution unless it is past `reason`'s reach.

    A reopened case stops only a survey not yet sent. Any other reason, such as
    "cancelled", stops it at every step before it ends. Returns True when a survey
    was stopped.
    """
    occurrence = resolution_count(case)
    reachable = [SCHEDULED] if reason == REOPENED else [SCHEDULED, SENDING, SENT]
    survey = Survey(case_key(case.case_id), survey_key(occurrence))
    stamp = isoformat_z(utc_now())
    try:
        survey.update(
            actions=[
                Survey.status.set(STOPPED),
                Survey.reason.set(reason),
                Survey.updated_at.set(stamp),
            ],
            condition=Survey.status.is_in(*reachable),
        )
    except UpdateError as error:
        if _failed_condition(error):
            return False
        raise
    engine.stop_workflows(case, reason, kinds=[KIND])
    engine.record_step(
        case,
        KIND,
        "stopped",
        external_id=_step_id(case.case_id, occurrence, "stopped"),
        body=f"Satisfaction survey stopped: case {reason}",
    )
    logger.info("survey stopped", extra={"case_id": case.case_id, "reason": reason})
    return True


def resolution_count(case: Case) -> int:
    """Return how many times the case was resolved, at least 1, which numbers its surveys."""
    return max(int(case.resolution_count or 0), 1)


def send_time(agency: AgencyConfig, resolved_at: datetime) -> datetime:
    """Return when the question goes out: the agency's delay after the resolution, moved
    to the end of the quiet hours when it falls inside them."""
    delayed = resolved_at + timedelta(seconds=agency.survey_delay_seconds)
    return next_send_time(deadlines.calendar_of(agency), delayed)


@lifecycle.on_status_change
def on_status_change(change: lifecycle.StatusChange) -> None:
    """Start the survey of a resolution, and stop it on a reopen or a cancellation."""
    if change.new_status == RESOLVED:
        start_survey(change.case)
    elif change.new_status in OPEN_STATUSES and change.old_status in (RESOLVED, CLOSED):
        stop_survey(change.case, REOPENED)
    elif change.new_status == lifecycle.CANCELLED:
        stop_survey(change.case, CANCELLED)


@tasks.task("survey.ask")
def ask(request: tasks.TaskRequest) -> dict:
    """Send the question on the channel of the citizen's last contact, once."""
    case, survey = _read(request.input)
    if survey.status in ASKED:
        # A redelivered task message after the question went out, or while it was
        # going out: the claim below keeps the question from going out twice.
        # NOTE: a task that failed between its claim and the send leaves a survey that
        # waits for an answer to a question never sent; one question at most is the
        # trade chosen over a second one.
        return {"sent": True, "channel": survey.channel}
    reason = _reason_not_to_ask(case, survey)
    if reason is not None:
        _end_unsent(case, survey, STOPPED, reason)
        return {"sent": False, "reason": reason}
    if not _claim(survey, SCHEDULED, SENDING):
        return {"sent": survey.status in ASKED, "channel": survey.channel}

    agency = get_agency(case.agency_id)
    delivery = _send_question(agency, case)
    if delivery is None or not delivery.reached:
        reason = NO_VERIFIED_PHONE if delivery is None else NO_CHANNEL
        _end_unsent(case, survey, NOT_SENT, reason)
        return {"sent": False, "reason": reason}

    channel = delivery.final.channel
    now = utc_now()
    transaction = Transaction()
    transaction.update(
        survey,
        [
            Survey.status.set(SENT),
            Survey.channel.set(channel),
            Survey.sent_at.set(isoformat_z(now)),
            Survey.updated_at.set(isoformat_z(now)),
        ],
        tag="survey",
        condition=Survey.status == SENDING,
    )
    survey_figures.add_counts(transaction, agency, now, sent=True)
    transaction.commit()
    engine.record_step(
        case,
        KIND,
        "sent",
        external_id=_step_id(case.case_id, survey.occurrence, "sent"),
        body=f"Satisfaction survey sent on {channel}",
        channel=channel,
    )
    logger.info("survey sent", extra={"case_id": case.case_id, "channel": channel})
    return {"sent": True, "channel": channel}


@tasks.task("survey.await_answer")
def await_answer(request: tasks.TaskRequest):
    """Keep the task token until the citizen rates, or the state's timeout ends the wait."""
    case, survey = _read(request.input)
    seconds = int(request.input["answer_timeout_seconds"])
    expires_at = utc_now() + timedelta(seconds=seconds)
    # The resumed output carries the context too, and "channel" there is the answer's.
    context = {"asked_on": survey.channel}
    waits.store_wait(request, case, KIND, expires_at, context)
    return tasks.PENDING


@tasks.task("survey.record")
def record_answer(request: tasks.TaskRequest) -> dict:
    """Store the rating on the survey and the case, count it, and thank the citizen once."""
    case, survey = _read(request.input)
    answer = request.input["answer"]
    rating = int(answer["rating"])
    channel = answer.get("channel") or survey.channel
    agency = get_agency(case.agency_id)
    now = utc_now()

    transaction = Transaction()
    transaction.update(
        survey,
        [
            Survey.status.set(ANSWERED),
            Survey.rating.set(rating),
            Survey.answer_channel.set(channel),
            Survey.answered_at.set(isoformat_z(now)),
            Survey.updated_at.set(isoformat_z(now)),
        ],
        tag="survey",
        condition=Survey.status == SENT,
    )
    transaction.update(
        Case(case_key(case.case_id), "CASE"),
        [Case.satisfaction_rating.set(rating)],
        tag="case",
        condition=Case.pk.exists(),
    )
    survey_figures.add_counts(transaction, agency, now, rating=rating)
    try:
        transaction.commit()
    except TransactionConflictError:
        stored = Survey.get(survey.pk, survey.sk)
        if stored.status != ANSWERED:
            raise
        logger.info("survey answer already recorded", extra={"case_id": case.case_id})
        return _recorded(int(stored.rating))

    engine.record_step(
        case,
        KIND,
        "answered",
        external_id=_step_id(case.case_id, survey.occurrence, "answered"),
        body=f"Satisfaction rating {rating} received on {channel}",
        channel=channel,
    )
    _thank(agency, case, channel)
    if rating > LOW_RATING_MAX:
        _mark_ended(survey)
    logger.info("survey answered", extra={"case_id": case.case_id, "rating": rating})
    return _recorded(rating)


@tasks.task("survey.no_answer")
def record_no_answer(request: tasks.TaskRequest) -> dict:
    """Record that the answer window closed without a rating."""
    case, survey = _read(request.input)
    agency = get_agency(case.agency_id)
    now = utc_now()
    transaction = Transaction()
    transaction.update(
        survey,
        [Survey.status.set(NO_ANSWER), Survey.updated_at.set(isoformat_z(now))],
        tag="survey",
        condition=Survey.status == SENT,
    )
    survey_figures.add_counts(transaction, agency, now, no_answer=True)
    try:
        transaction.commit()
    except TransactionConflictError:
        if Survey.get(survey.pk, survey.sk).status != NO_ANSWER:
            raise
        return {"recorded": False}
    _mark_ended(survey)
    engine.record_step(
        case,
        KIND,
        "no_answer",
        external_id=_step_id(case.case_id, survey.occurrence, "no_answer"),
        body="Satisfaction survey ended with no answer",
    )
    logger.info("survey unanswered", extra={"case_id": case.case_id})
    return {"recorded": True}


@tasks.task("survey.open_recovery")
def open_recovery(request: tasks.TaskRequest) -> dict:
    """Open the recovery case of a low rating, and return the staff alert to publish."""
    case, survey = _read(request.input)
    rating = int(request.input["answer"]["rating"])
    agency = get_agency(case.agency_id)
    result = open_recovery_case(agency, case, survey, rating, _step_id)
    # The staff alert that follows is the last state, and it needs no task.
    _mark_ended(survey)
    return result


def _read(workflow_input: dict) -> tuple[Case, Survey]:
    case_id = workflow_input["case_id"]
    occurrence = int(workflow_input["occurrence"])
    case = Case.get(case_key(case_id), "CASE")
    survey = Survey.get(case_key(case_id), survey_key(occurrence))
    return case, survey


def _reason_not_to_ask(case: Case, survey: Survey) -> str | None:
    """Return why a due question must not go out, or None to send it."""
    if survey.status == STOPPED:
        return survey.reason or REOPENED
    if case.status not in (RESOLVED, CLOSED) or resolution_count(case) != survey.occurrence:
        return REOPENED
    if not get_agency(case.agency_id).surveys_enabled:
        return DISABLED
    return None


def _send_question(agency: AgencyConfig, case: Case) -> notify.Delivery | None:
    """Send the question, or return None for a phone case whose caller has no verified phone.

    A phone call's caller id can be spoofed, so a case last handled by phone is asked by
    SMS, and only at a number an SMS from the citizen proved.
    """
    profile = _profile(case.citizen_id)
    language = agency.language_for(profile.language if profile else None)
    if case.last_channel != VOICE:
        channel = case.last_channel
        return notify.notify_case(
            agency,
            case,
            survey_messages.question(channel, language, case.reference),
            notify.CASE_UPDATE,
            choices=survey_messages.choices(channel, language),
        )
    phone = routing.verified_identity(profile, SMS)
    if phone is None:
        return None
    request = notify.Outbound(
        agency=agency,
        citizen_id=case.citizen_id,
        text=survey_messages.question(SMS, language, case.reference),
        case_id=case.case_id,
        case_reference=case.reference,
        language=language,
    )
    delivery = notify.deliver(request, routing.Route(SMS, identity=phone), fallback=False)
    notify.record(delivery)
    return delivery


def _thank(agency: AgencyConfig, case: Case, channel: str) -> None:
    """Thank the citizen on the channel their rating came on."""
    profile = _profile(case.citizen_id)
    language = agency.language_for(profile.language if profile else None)
    request = notify.Outbound(
        agency=agency,
        citizen_id=case.citizen_id,
        text=survey_messages.thanks(language),
        case_id=case.case_id,
        case_reference=case.reference,
        language=language,
        session_id=case.session_id,
    )
    notify.record(notify.deliver(request, routing.Route(channel)))


def _put_scheduled(case: Case, occurrence: int, send_at: datetime, now: datetime) -> None:
    stamp = isoformat_z(now)
    survey = Survey(
        case_key(case.case_id),
        survey_key(occurrence),
        case_id=case.case_id,
        agency_id=case.agency_id,
        citizen_id=case.citizen_id,
        occurrence=occurrence,
        status=SCHEDULED,
        send_at=isoformat_z(send_at),
        created_at=stamp,
        updated_at=stamp,
    )
    try:
        survey.save(condition=Survey.pk.does_not_exist())
    except PutError as error:
        if not _failed_condition(error):
            raise
        # The same resolution again: the workflow start below is idempotent too.
        logger.info("survey already scheduled", extra={"case_id": case.case_id})


def _claim(survey: Survey, expected: str, status: str) -> bool:
    """Move the survey from `expected` to `status`; return False when another step moved it."""
    try:
        survey.update(
            actions=[Survey.status.set(status), Survey.updated_at.set(isoformat_z(utc_now()))],
            condition=Survey.status == expected,
        )
    except UpdateError as error:
        if not _failed_condition(error):
            raise
        survey.refresh()
        return False
    return True


def _end_unsent(case: Case, survey: Survey, status: str, reason: str) -> None:
    """End a survey whose question did not go out, and record why on the timeline."""
    try:
        survey.update(
            actions=[
                Survey.status.set(status),
                Survey.reason.set(reason),
                Survey.updated_at.set(isoformat_z(utc_now())),
            ],
            condition=Survey.status.is_in(SCHEDULED, SENDING),
        )
    except UpdateError as error:
        if not _failed_condition(error):
            raise
    _mark_ended(survey)
    engine.record_step(
        case,
        KIND,
        "not_sent",
        external_id=_step_id(case.case_id, survey.occurrence, "not_sent"),
        body=f"Satisfaction survey not sent: {reason}",
    )
    logger.info("survey not sent", extra={"case_id": case.case_id, "reason": reason})


def _mark_ended(survey: Survey) -> None:
    """Record that the workflow is at its end, so closing the case later stops nothing."""
    engine.mark_ended(survey.case_id, KIND, str(int(survey.occurrence)))


def _recorded(rating: int) -> dict:
    return {"rating": rating, "recovery": rating <= LOW_RATING_MAX}


def _step_id(case_id: str, occurrence: int, step: str) -> str:
    """Name one step of one survey; `record_step` scopes it to the case and kind."""
    return f"{case_id}#{int(occurrence)}#{step}"


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def _failed_condition(error: PutError | UpdateError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"
