"""Start the appointment reminder workflow, and the tasks its state machine runs.

The definition is infra/statemachines/appointment_reminder.asl.json.

The workflow plans the reminder time, waits for it, sends the reminder on the citizen's
first reachable channel and waits for the answer. Without an answer it plans again and
tries the next channel, and after the last one it puts the appointment on the agency's
call list as unconfirmed. An answer on any channel resumes the wait (chalicelib/workflows/waits.py
with the parser in answers.py), and the workflow confirms or cancels.

Reminder times come from the agency's business calendar: the reminder is due
`reminder_hours_before` the appointment and never goes out in quiet hours. Each
occurrence of an appointment (a reschedule makes a new one) has its own execution.
"""

from datetime import timedelta
from types import ModuleType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.agencies import AgencyConfig, get_agency
from chalicelib.appointments import lifecycle, texts
from chalicelib.appointments.settings import AppointmentSettings, settings_of
from chalicelib.appointments.statuses import BOOKED, CANCELLED, CONFIRMED
from chalicelib.clock import parse_utc, utc_now
from chalicelib.errors import ServiceUnavailableError
from chalicelib.journey.references import format_reference
from chalicelib.notify import routing, sender
from chalicelib.notify.routing import Route, Skip
from chalicelib.observability import logger
from chalicelib.store.models import Appointment, Case, CitizenProfile, case_key, citizen_key
from chalicelib.workflows import engine, waits
from chalicelib.workflows.tasks import PENDING, TaskRequest, task

KIND = engine.APPOINTMENT_REMINDER
# The WhatsApp template purpose that carries a reminder outside the 24-hour window.
REMINDER_TEMPLATE = "appointment_reminder"
# Reply button ids; answers.py reads them back.
CONFIRM_CHOICE = "confirm-appointment"
CANCEL_CHOICE = "cancel-appointment"
# Outcomes of the send task without a citizen's answer, read by the state machine's Choice.
NO_CHANNEL = "no_channel"
CLOSED = "closed"


def start(
    agency: AgencyConfig, settings: AppointmentSettings, appointment: Appointment
) -> str | None:
    """Start the reminder of an appointment's current occurrence; return when it is due.

    Returns None without starting anything when no reminder fits before the appointment
    (booked for soon after the quiet hours end), and when the start failed. The
    booking is already committed then, so the failure is logged instead of raised.
    """
    calendar, business = _calendar(settings)
    due = calendar.reminder_time(
        business,
        parse_utc(appointment.starts_at),
        settings.reminder_hours_before,
        now=utc_now(),
    )
    if due is None:
        logger.info("appointment too soon for a reminder", extra={"case_id": appointment.case_id})
        return None
    reminder_at = calendar.wait_timestamp(due)
    # The engine reads only the case's ids, which the appointment repeats.
    case = Case(
        case_key(appointment.case_id),
        "CASE",
        case_id=appointment.case_id,
        agency_id=appointment.agency_id,
        citizen_id=appointment.citizen_id,
    )
    workflow_input = {
        "appointment_starts_at": appointment.starts_at,
        "reminder_at": reminder_at,
        "answer_wait_seconds": settings.answer_wait_seconds,
    }
    try:
        engine.start_workflow(KIND, case, str(appointment.occurrence), workflow_input)
    except (BotoCoreError, ClientError):
        # NOTE: nothing restarts a reminder that failed to start; the appointment
        # stays booked and reaches the call list only through an agent.
        logger.exception("appointment reminder not started", extra={"case_id": case.case_id})
        return None
    return reminder_at


def stop(case: Case, reason: str) -> None:
    """Stop the appointment's running reminder, which ends its wait for an answer."""
    engine.stop_workflows(case, reason, kinds={KIND})


def check_calendar(settings: AppointmentSettings) -> None:
    """Raise ServiceUnavailableError when the agency's reminder calendar is invalid."""
    _calendar(settings)


def _calendar(settings: AppointmentSettings) -> tuple[ModuleType, Any]:
    """Return the calendar module and the agency's business calendar.

    Raises ServiceUnavailableError for an invalid calendar, which is the agency's
    configuration and nothing the citizen sent.
    """
    # Imported here, because the holidays package it loads adds about 85 ms to the
    # cold start of every function that imports app.py.
    from chalicelib.workflows import calendar

    try:
        return calendar, calendar.BusinessCalendar.from_dict(settings.calendar)
    except calendar.InvalidCalendarError as error:
        raise ServiceUnavailableError(
            f"the agency's appointment calendar is invalid ({error.message}); "
            "an administrator must correct appointments.calendar",
            field="calendar",
        ) from error


@task("appointment_plan")
def plan(request: TaskRequest) -> dict:
    """Return when the next reminder goes out, or why none will (`closed`, `too_late`).

    The first reminder goes at the input's `reminder_at`; a later one, for the next
    channel, at once. Either moves out of quiet hours, and one that would not go out
    before the appointment is `too_late`.
    """
    appointment, _ = _current(request)
    if appointment is None:
        _end(request)
        return {"status": CLOSED}
    settings = settings_of(get_agency(appointment.agency_id))
    calendar, business = _calendar(settings)
    send_at = calendar.next_send_time(business, utc_now())
    if not appointment.reminder_channels:
        send_at = max(send_at, parse_utc(request.input["reminder_at"]))
    if send_at >= parse_utc(appointment.starts_at):
        return {"status": "too_late"}
    return {"status": "scheduled", "send_at": calendar.wait_timestamp(send_at)}


@task("appointment_send_reminder")
def send_reminder(request: TaskRequest) -> dict | object:
    """Send the reminder on the next untried channel and wait for the citizen's answer.

    The channel is claimed on the appointment before the send, on the condition that
    the tried list is as read, so a redelivered task message never sends twice.
    """
    appointment, case = _current(request)
    if appointment is None:
        _end(request)
        return {"answer": CLOSED}
    agency = get_agency(appointment.agency_id)
    settings = settings_of(agency)
    tried = list(appointment.reminder_channels or [])
    channels = _untried_channels(case, _profile(appointment.citizen_id), tried)
    if channels:
        # Stored before the send, so that an answer arriving at once finds the wait.
        expires_at = utc_now() + timedelta(seconds=int(request.input["answer_wait_seconds"]))
        waits.store_wait(request, case, KIND, expires_at, {"case_id": case.case_id})
    for channel in channels:
        if not _claim_channel(appointment, tried, channel):
            logger.info("reminder already sent for this attempt", extra={"case_id": case.case_id})
            return PENDING
        tried.append(channel)
        delivery = _deliver(agency, settings, appointment, case, channel)
        if delivery.reached:
            engine.record_step(
                case,
                KIND,
                "reminder_sent",
                external_id=f"{request.execution_arn}#sent#{channel}",
                channel=delivery.final.channel,
                body=delivery.final.body,
            )
            return PENDING
    engine.record_step(
        case,
        KIND,
        "no_channel",
        external_id=f"{request.execution_arn}#no_channel",
        body=f"tried: {', '.join(tried) or 'none'}",
    )
    return {"answer": NO_CHANNEL}


@task("appointment_no_answer")
def no_answer(request: TaskRequest) -> dict:
    """Record that the citizen did not answer the reminder on its last channel."""
    appointment, case = _current(request)
    if appointment is not None and appointment.reminder_channels:
        channel = appointment.reminder_channels[-1]
        engine.record_step(
            case,
            KIND,
            "no_answer",
            external_id=f"{request.execution_arn}#no_answer#{channel}",
            channel=channel,
        )
    return {}


@task("appointment_answer")
def apply_answer(request: TaskRequest) -> dict:
    """Confirm or cancel as the citizen answered, tell them, and record the step."""
    answer = request.input.get("answer") or {}
    channel = answer.get("channel") or "unknown"
    appointment = lifecycle.appointment_of(request.input["case_id"])
    if answer.get("answer") == "cancel":
        change = lifecycle.cancel(appointment, channel)
        step, reply = CANCELLED, "cancelled"
    else:
        change = lifecycle.confirm(appointment, channel)
        step, reply = CONFIRMED, "confirmed"
    if change.changed:
        case = Case.get(case_key(appointment.case_id), "CASE")
        engine.record_step(
            case,
            KIND,
            step,
            external_id=f"{request.execution_arn}#{step}",
            channel=channel,
        )
        _acknowledge(appointment, case, channel, reply)
    _end(request)
    return {"status": change.status}


@task("appointment_unconfirmed")
def unconfirmed(request: TaskRequest) -> dict:
    """Put the appointment on the agency's call list: no channel brought an answer."""
    appointment = lifecycle.appointment_of(request.input["case_id"])
    change = lifecycle.mark_unconfirmed(appointment)
    if change.changed:
        case = Case.get(case_key(appointment.case_id), "CASE")
        engine.record_step(
            case,
            KIND,
            "unconfirmed",
            external_id=f"{request.execution_arn}#unconfirmed",
            body=f"tried: {', '.join(appointment.reminder_channels or []) or 'none'}",
        )
    _end(request)
    return {"status": change.status}


def reminder_text(
    agency: AgencyConfig, settings: AppointmentSettings, appointment: Appointment
) -> str:
    language = appointment.language
    return texts.text(
        "reminder",
        language,
        reference=format_reference(appointment.reference),
        service=settings.service_name(appointment.service, language),
        office=settings.office_name(appointment.office),
        when=texts.written_time(parse_utc(appointment.starts_at), agency.timezone),
    )


def _end(request: TaskRequest) -> None:
    """Record that this execution reaches its end, so closing the case does not stop it."""
    engine.mark_ended(request.input["case_id"], KIND, request.input["occurrence"])


def _current(request: TaskRequest) -> tuple[Appointment | None, Case | None]:
    """Return the appointment and case while this occurrence still awaits a reminder."""
    appointment = lifecycle.appointment_of(request.input["case_id"])
    if appointment.status != BOOKED or int(appointment.occurrence) != int(
        request.input["occurrence"]
    ):
        return None, None
    return appointment, Case.get(case_key(appointment.case_id), "CASE")


def _profile(citizen_id: str) -> CitizenProfile | None:
    try:
        return CitizenProfile.get(citizen_key(citizen_id), "PROFILE")
    except CitizenProfile.DoesNotExist:
        return None


def _untried_channels(case: Case, profile: CitizenProfile | None, tried: list[str]) -> list[str]:
    """Return the channels that reach the citizen, in notify's order, minus those tried.

    Opted-out channels and channels without a verified identity or live chat session
    are left out, as notify leaves them out.
    """
    preferred = profile.preferred_channel if profile else None
    order = routing.channel_order(case.last_channel, preferred, fallback=True)
    return [
        channel
        for channel in order
        if channel not in tried
        and not isinstance(
            routing.route_for(channel, case.agency_id, profile, None, case.session_id, False), Skip
        )
    ]


def _claim_channel(appointment: Appointment, tried: list[str], channel: str) -> bool:
    """Append `channel` to the tried list unless a concurrent or earlier delivery did."""
    if tried:
        condition = size(Appointment.reminder_channels) == len(tried)
    else:
        condition = Appointment.reminder_channels.does_not_exist()
    try:
        appointment.update(
            actions=[Appointment.reminder_channels.set([*tried, channel])], condition=condition
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _deliver(
    agency: AgencyConfig,
    settings: AppointmentSettings,
    appointment: Appointment,
    case: Case,
    channel: str,
) -> sender.Delivery:
    language = appointment.language
    request = sender.Outbound(
        agency=agency,
        citizen_id=appointment.citizen_id,
        text=reminder_text(agency, settings, appointment),
        case_id=case.case_id,
        case_reference=case.reference,
        template=REMINDER_TEMPLATE,
        language=language,
        session_id=case.session_id,
        choices=(
            (CONFIRM_CHOICE, texts.text("choice_confirm", language)),
            (CANCEL_CHOICE, texts.text("choice_cancel", language)),
        ),
    )
    delivery = sender.deliver(request, Route(channel), fallback=False)
    sender.record(delivery)
    return delivery


def _acknowledge(appointment: Appointment, case: Case, channel: str, key: str) -> None:
    """Tell the citizen the result, first on the channel they answered on."""
    agency = get_agency(appointment.agency_id)
    text = texts.text(key, appointment.language, reference=format_reference(appointment.reference))
    request = sender.Outbound(
        agency=agency,
        citizen_id=appointment.citizen_id,
        text=text,
        case_id=case.case_id,
        case_reference=case.reference,
        template=sender.CASE_UPDATE,
        language=appointment.language,
        session_id=case.session_id,
    )
    sender.record(sender.deliver(request, Route(channel)))
