"""Appointments end to end in moto: booking, the reminder workflow, answers on any channel."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from chalicelib.appointments import texts
from chalicelib.clock import isoformat_z
from tests import support
from tests import support_appointments as appointments
from tests import support_notify as notify_support
from tests.functional.test_races import run_together
from tests.support_webhooks import post_signed
from tests.support_workflows import (
    execution_history,
    execution_status,
    run_workflow_tasks,
    wait_for_execution,
)


@pytest.fixture
def graph(aws, monkeypatch):
    """A Graph API on 127.0.0.1 that the product's settings point at."""
    with notify_support.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        notify_support.reload_settings()
        parameters.clear_caches()
        yield fake
        notify_support.reload_settings()


@pytest.fixture
def sms(aws):
    return support.SmsOutbox.attach()


def _execution_arn(case_id: str) -> str:
    return appointments.run(case_id)["execution_arn"]


def _waiting(citizen_id: str, case_id: str):
    def check() -> bool:
        wait = appointments.wait_item(citizen_id, case_id)
        return wait is not None and wait["status"] == "waiting"

    return check


def _succeeded(case_id: str):
    def check() -> bool:
        stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
        arn = _execution_arn(case_id)
        return stepfunctions.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"

    return check


def _entered(execution_arn: str, event_type: str) -> bool:
    return any(event["type"] == event_type for event in execution_history(execution_arn))


def _remind_on_whatsapp(client, graph, answer_wait_seconds: float = 30) -> dict:
    """Book an appointment in two hours for a citizen reachable on WhatsApp and SMS,
    and run the workflow until the reminder on WhatsApp waits for an answer."""
    appointments.configure(answer_wait_seconds=answer_wait_seconds)
    start = appointments.put_slot(appointments.in_hours(2))
    case = appointments.booked(client, start, preferred_channel="whatsapp")
    appointments.give_channels(case, "whatsapp", "sms", preferred="whatsapp")
    run_workflow_tasks(client, until=_waiting(case["citizen_id"], case["case_id"]))
    return {**case, "start": start}


# Booking


def test_slots_list_available_places(client):
    start = appointments.put_slot(appointments.in_hours(30), capacity=3, booked=1)

    response = client.http.get(
        f"/agencies/demo/slots?service=licencias&office=centro&from={isoformat_z(appointments.in_hours(29))}"
        f"&to={isoformat_z(appointments.in_hours(31))}"
    )

    assert response.status_code == 200
    assert response.json_body["slots"] == [
        {
            "service": "licencias",
            "office": "centro",
            "starts_at": start,
            "ends_at": appointments.slot(start)["ends_at"],
            "capacity": 3,
            "available": 2,
        }
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("office=centro", "query.service"),
        ("service=tramites", "service"),
        ("service=licencias&office=sur", "office"),
        ("service=licencias&from=2026-12-07T10:00:00", "query.from"),
    ],
)
def test_slots_bad_query_names_field(client, query, field):
    response = client.http.get(f"/agencies/demo/slots?{query}")

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == field


def test_booking_opens_case_and_tells_reference(client):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(48))

    response = appointments.book_form(client, start, preferred_channel="sms")

    assert response.status_code == 201, response.json_body
    body = response.json_body
    case = support.case_of_reference(body["case_reference"])
    assert case["status"] == "open"
    assert case["channel"] == "web"
    assert body["status"] == "booked"
    assert body["case_reference"] in body["message"]
    assert "Licencia de conducir" in body["message"]
    assert appointments.slot(start)["booked"] == 1
    item = appointments.appointment(case["case_id"])
    assert item["status"] == "booked"
    assert item["gsi1pk"] == "AGENCY#demo#APPOINTMENT#booked"
    profile = support.profile(case["citizen_id"])
    assert profile["provisional"] is True
    assert profile["preferred_channel"] == "sms"
    # The typed phone is a claim on the provisional profile, never a verified link.
    assert support.phone_link(appointments.PHONE) is None
    claims = support.query_items(f"IDENTITY#phone#{appointments.PHONE}", "CLAIM#")
    assert [claim["citizen_id"] for claim in claims] == [case["citizen_id"]]
    reminder_at = datetime.fromisoformat(body["reminder_at"])
    assert reminder_at == datetime.fromisoformat(start) - timedelta(hours=24)
    assert appointments.run(case["case_id"])["status"] == "running"


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"service": "tramites"}, 400, "service"),
        ({"office": "sur"}, 400, "office"),
        ({"starts_at": "mañana"}, 400, "starts_at"),
        ({"starts_at": "2030-01-01T10:00:00.000Z"}, 404, "starts_at"),
        ({"phone": None, "email": None}, 400, "phone"),
        ({"phone": "12"}, 400, "phone"),
        ({"email": "not-an-email"}, 400, "email"),
        ({"language": "fr"}, 400, "language"),
        ({"preferred_channel": "fax"}, 400, "preferred_channel"),
        ({"name": ""}, 400, "name"),
        ({"agency_id": "nowhere"}, 404, "agency_id"),
    ],
)
def test_booking_bad_input_names_field(client, changes, status, field):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(48))

    fields = dict(changes)
    response = appointments.book_form(client, fields.pop("starts_at", start), **fields)

    assert response.status_code == status, response.json_body
    assert response.json_body["error"]["field"] == field
    assert appointments.slot(start)["booked"] == 0


def test_booking_started_slot_is_rejected(client):
    start = appointments.put_slot(datetime.now(UTC) - timedelta(minutes=5))

    response = appointments.book_form(client, start)

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "starts_at"


def test_booking_full_slot_is_conflict(client):
    start = appointments.put_slot(appointments.in_hours(48), capacity=1, booked=1)

    response = appointments.book_form(client, start)

    assert response.status_code == 409
    assert response.json_body["error"]["field"] == "starts_at"
    assert appointments.slot(start)["booked"] == 1
    assert support.items_of_kind("CASE#", "CASE") == []


def test_last_slot_race_one_booking_wins(client, monkeypatch):
    from chalicelib.agencies import get_agency
    from chalicelib.appointments import booking
    from chalicelib.errors import ConflictError
    from chalicelib.journey.models import Identity

    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(48), capacity=1)
    agency = get_agency("demo")
    support.serialize_moto_requests(monkeypatch)

    def book(index):
        booker = booking.Booker(
            channel=booking.WEB,
            language="es",
            name=f"Citizen {index}",
            claims=(Identity("email", f"citizen{index}@example.org", False),),
        )
        booking.book(agency, booker, "licencias", "centro", datetime.fromisoformat(start))

    errors = run_together(book, count=4)

    assert errors.count(None) == 1
    assert all(isinstance(error, ConflictError) for error in errors if error is not None)
    assert appointments.slot(start)["booked"] == 1
    assert len(support.items_of_kind("CASE#", "APPOINTMENT")) == 1


def test_chat_booking_once_per_service(client):
    appointments.configure()
    first = appointments.put_slot(appointments.in_hours(48))
    second = appointments.put_slot(appointments.in_hours(72))
    session = support.open_chat(client, name="Ana López")
    path = f"/chat/sessions/{session.session_id}/appointments"
    body = {"service": "licencias", "office": "centro"}

    booked = support.post_json(client, path, {**body, "starts_at": first}, session.headers)
    again = support.post_json(client, path, {**body, "starts_at": second}, session.headers)
    other = support.post_json(
        client, path, {**body, "starts_at": first, "service": "predial"}, session.headers
    )

    assert booked.status_code == 201, booked.json_body
    assert again.status_code == 409
    assert again.json_body["error"]["field"] == "service"
    assert booked.json_body["case_reference"] in again.json_body["error"]["message"]
    assert appointments.slot(second)["booked"] == 0
    assert other.status_code == 404
    messages = support.chat_messages(client, session).json_body["messages"]
    assert [message["text"] for message in messages] == [booked.json_body["message"]]


def test_chat_booking_needs_session_token(client):
    session = support.open_chat(client)
    start = appointments.put_slot(appointments.in_hours(48))

    response = support.post_json(
        client,
        f"/chat/sessions/{session.session_id}/appointments",
        {"service": "licencias", "office": "centro", "starts_at": start},
        {"X-Session-Token": "wrong"},
    )

    assert response.status_code == 401
    assert appointments.slot(start)["booked"] == 0


# The reminder workflow


def test_reminder_on_whatsapp_confirmed_by_sms(client, graph, sms):
    case = _remind_on_whatsapp(client, graph)
    citizen_id, case_id = case["citizen_id"], case["case_id"]

    (reminder,) = graph.to("/messages")
    assert reminder.body["to"] == appointments.WHATSAPP_ID.lstrip("+")
    interactive = reminder.body["interactive"]
    assert case["response"]["case_reference"] in interactive["body"]["text"]
    buttons = [button["reply"]["id"] for button in interactive["action"]["buttons"]]
    assert buttons == ["confirm-appointment", "cancel-appointment"]
    support.invoke_sms(client, appointments.sms_reply("Sí", "sms-confirm-1"))
    run_workflow_tasks(client, until=_succeeded(case_id))

    assert wait_for_execution(_execution_arn(case_id))["status"] == "SUCCEEDED"
    item = appointments.appointment(case_id)
    assert item["status"] == "confirmed"
    assert item["answered_on"] == "sms"
    assert item["reminder_channels"] == ["whatsapp"]
    assert appointments.steps(citizen_id) == [("reminder_sent", "whatsapp"), ("confirmed", "sms")]
    assert appointments.run(case_id)["status"] == "ended"
    (acknowledgement,) = sms.to(appointments.PHONE)
    assert "confirmada" in acknowledgement["MessageBody"]


def test_reminder_cancelled_by_button_frees_slot(client, graph, sms, demo_agency):
    case = _remind_on_whatsapp(client, graph)
    case_id = case["case_id"]

    response = post_signed(
        client,
        "/webhooks/whatsapp",
        appointments.whatsapp_button("cancel-appointment", "wamid.cancel-1"),
        demo_agency["whatsapp_app_secret"],
    )
    run_workflow_tasks(client, until=_succeeded(case_id))

    assert response.status_code == 200
    item = appointments.appointment(case_id)
    assert item["status"] == "cancelled"
    assert item["answered_on"] == "whatsapp"
    assert appointments.slot(case["start"])["booked"] == 0
    assert support.case_item(case_id)["status"] == "closed"
    hold = support.get_item(f"CITIZEN#{case['citizen_id']}", "HOLD#demo#licencias")
    assert hold["active"] is False
    # The place is free again, and the citizen may book the service again.
    again = appointments.book_form(client, case["start"])
    assert again.status_code == 201


def test_duplicate_reply_resumes_once(client, graph, sms):
    case = _remind_on_whatsapp(client, graph)
    event = appointments.sms_reply("1", "sms-confirm-dup")

    support.invoke_sms(client, event)
    support.invoke_sms(client, event)
    run_workflow_tasks(client, until=_succeeded(case["case_id"]))

    history = execution_history(_execution_arn(case["case_id"]))
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if "stateEnteredEventDetails" in event
    ]
    assert entered.count("ApplyAnswer") == 1
    assert appointments.appointment(case["case_id"])["status"] == "confirmed"
    assert len(sms.to(appointments.PHONE)) == 1


def test_reply_after_workflow_ended_gets_polite_answer(client, graph, sms):
    case = _remind_on_whatsapp(client, graph)
    support.invoke_sms(client, appointments.sms_reply("confirmo", "sms-confirm-2"))
    run_workflow_tasks(client, until=_succeeded(case["case_id"]))

    support.invoke_sms(client, appointments.sms_reply("no", "sms-late-1"))

    assert appointments.appointment(case["case_id"])["status"] == "confirmed"
    bodies = [request["MessageBody"] for request in sms.to(appointments.PHONE)]
    assert bodies[-1] == texts.text("answer_ended", "es")
    assert appointments.slot(case["start"])["booked"] == 1


def test_no_answer_tries_next_channel_then_call_list(client, graph, sms, agent_headers):
    case = _remind_on_whatsapp(client, graph, answer_wait_seconds=2)
    citizen_id, case_id = case["citizen_id"], case["case_id"]

    run_workflow_tasks(client, until=_succeeded(case_id), timeout=20)

    item = appointments.appointment(case_id)
    assert item["status"] == "unconfirmed"
    assert item["reminder_channels"] == ["whatsapp", "sms"]
    assert appointments.steps(citizen_id) == [
        ("reminder_sent", "whatsapp"),
        ("no_answer", "whatsapp"),
        ("reminder_sent", "sms"),
        ("no_answer", "sms"),
        ("no_channel", "workflow"),
        ("unconfirmed", "workflow"),
    ]
    (sms_reminder,) = sms.to(appointments.PHONE)
    assert "Responda 1" in sms_reminder["MessageBody"]
    day = datetime.fromisoformat(case["start"]).astimezone(ZoneInfo("America/Mexico_City"))
    response = client.http.get(
        f"/reports/agencies/demo/appointments?status=unconfirmed&date={day.date().isoformat()}",
        headers=agent_headers,
    )
    assert response.status_code == 200, response.json_body
    (entry,) = response.json_body["appointments"]
    assert entry["case_id"] == case_id
    assert entry["reminder_channels"] == ["whatsapp", "sms"]


def test_answer_after_expired_wait_resumes_nothing(client, graph, sms):
    case = _remind_on_whatsapp(client, graph, answer_wait_seconds=1)
    run_workflow_tasks(client, until=_succeeded(case["case_id"]), timeout=20)

    support.invoke_sms(client, appointments.sms_reply("si", "sms-expired-1"))

    assert appointments.appointment(case["case_id"])["status"] == "unconfirmed"
    wait = appointments.wait_item(case["citizen_id"], case["case_id"])
    assert wait["status"] == "expired"
    bodies = [request["MessageBody"] for request in sms.to(appointments.PHONE)]
    assert bodies[-1] == texts.text("answer_ended", "es")


def test_opted_out_channel_is_passed_over(client, graph, sms):
    appointments.configure(answer_wait_seconds=30)
    start = appointments.put_slot(appointments.in_hours(2))
    case = appointments.booked(client, start)
    appointments.give_channels(case, "whatsapp", "sms", preferred="whatsapp")
    notify_support.set_profile(case["citizen_id"], opted_out_channels={"whatsapp"})

    run_workflow_tasks(client, until=_waiting(case["citizen_id"], case["case_id"]))

    assert graph.to("/messages") == []
    assert appointments.appointment(case["case_id"])["reminder_channels"] == ["sms"]
    assert len(sms.to(appointments.PHONE)) == 1


def test_reminder_waits_out_quiet_hours(client):
    zone = ZoneInfo("America/Mexico_City")
    now = datetime.now(zone)
    quiet = [
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=2)).strftime("%H:%M"),
    ]
    appointments.configure(quiet_hours=quiet)
    start = appointments.put_slot(appointments.in_hours(5))

    case = appointments.booked(client, start)
    arn = _execution_arn(case["case_id"])
    run_workflow_tasks(client, until=lambda: _entered(arn, "WaitStateEntered"))

    reminder_at = datetime.fromisoformat(case["response"]["reminder_at"])
    quiet_end = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    assert reminder_at == quiet_end.astimezone(UTC)
    (plan,) = [event for event in execution_history(arn) if event["type"] == "TaskStateExited"]
    assert isoformat_z(quiet_end).replace(".000", "") in plan["stateExitedEventDetails"]["output"]
    assert execution_status(arn) == "RUNNING"
    assert appointments.appointment(case["case_id"]).get("reminder_channels") is None
    boto3.client("stepfunctions", region_name="us-east-1").stop_execution(executionArn=arn)


# Phone and agents


def test_phone_confirm_needs_reference_and_stops_reminder(client):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(30))
    case = appointments.booked(client, start)
    reference = case["reference"]

    invalid = client.lambda_.invoke(
        "connect_contact_flow", appointments.flow_event("confirm_appointment", "")
    ).payload
    answer = client.lambda_.invoke(
        "connect_contact_flow", appointments.flow_event("confirm_appointment", reference)
    ).payload

    assert invalid["result"] == "invalid"
    assert answer["result"] == "ok"
    assert answer["appointment_status"] == "confirmed"
    assert answer["appointment_time"] in answer["prompt"]
    assert all(isinstance(value, str) for value in answer.values())
    assert appointments.appointment(case["case_id"])["status"] == "confirmed"
    # moto 5.2.5 reports a stopped execution RUNNING until its task ends (see
    # test_workflow_engine.py), so the product's own record of the run is checked.
    assert appointments.run(case["case_id"])["status"] == "stopped"
    assert appointments.steps(case["citizen_id"]) == [("confirmed", "voice")]


def test_phone_cancel_frees_slot_once(client):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(30))
    case = appointments.booked(client, start)
    event = appointments.flow_event("cancel_appointment", case["reference"])

    first = client.lambda_.invoke("connect_contact_flow", event).payload
    second = client.lambda_.invoke("connect_contact_flow", event).payload

    assert first["result"] == "ok"
    assert first["appointment_status"] == "cancelled"
    assert second["result"] == "not_found"
    assert second["appointment_status"] == "cancelled"
    assert appointments.slot(start)["booked"] == 0
    assert support.case_item(case["case_id"])["status"] == "closed"


def test_phone_other_agency_reference_is_not_found(client, other_agency):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(30))
    case = appointments.booked(client, start)
    event = appointments.flow_event("cancel_appointment", case["reference"])
    event["Details"]["ContactData"]["InstanceARN"] = other_agency["connect_instance_arn"]

    answer = client.lambda_.invoke("connect_contact_flow", event).payload

    assert answer["result"] == "not_found"
    assert appointments.appointment(case["case_id"])["status"] == "booked"


def test_phone_booking_takes_earliest_free_slot(client):
    appointments.configure()
    full = appointments.put_slot(appointments.in_hours(2), capacity=1, booked=1)
    free = appointments.put_slot(appointments.in_hours(3), capacity=1)
    event = support.load_event("connect_book_appointment")

    answer = client.lambda_.invoke("connect_contact_flow", event).payload
    again = client.lambda_.invoke("connect_contact_flow", event).payload

    assert answer["result"] == "ok", answer
    assert all(isinstance(value, str) for value in answer.values())
    assert answer["appointment_time"] in answer["prompt"]
    case = support.case_of_reference(answer["latest_case_reference"])
    item = appointments.appointment(case["case_id"])
    assert item["starts_at"] == free
    assert item["booked_on"] == "voice"
    assert appointments.slot(full)["booked"] == 1
    # The caller id stays a claim on a provisional profile, even for a known number.
    profile = support.profile(case["citizen_id"])
    assert profile["provisional"] is True
    assert support.phone_link(appointments.PHONE) is None
    # The same caller holds the service now, and the only other slot is full.
    assert again["result"] == "not_found"


def test_phone_booking_without_caller_id_is_invalid(client):
    event = support.load_event("connect_book_appointment")
    event["Details"]["ContactData"]["CustomerEndpoint"] = None

    answer = client.lambda_.invoke("connect_contact_flow", event).payload

    assert answer["result"] == "invalid"
    assert support.items_of_kind("CASE#", "APPOINTMENT") == []


def test_phone_booking_unknown_service_is_error(client):
    event = support.load_event("connect_book_appointment")
    event["Details"]["Parameters"]["service"] = "tramites"

    answer = client.lambda_.invoke("connect_contact_flow", event).payload

    assert answer["result"] == "error"
    assert answer["error_code"] == "invalid_request"


def test_identify_reports_pending_appointment_only(client):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(30))
    case = appointments.booked(client, start)
    appointments.give_channels(case, "sms")
    event = appointments.flow_event("confirm_appointment", "")
    event["Details"]["Parameters"] = {}

    answer = client.lambda_.invoke("connect_contact_flow", event).payload

    assert answer["known_caller"] == "true"
    assert answer["pending_appointment"] == "true"
    assert "appointment_time" not in answer


def test_agent_cancels_appointment_of_own_agency(client, agent_headers, water_agent_headers):
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(30))
    case = appointments.booked(client, start)
    path = f"/cases/{case['case_id']}/appointment"

    hidden = support.post_json(client, path, {"status": "cancelled"}, water_agent_headers)
    invalid = support.post_json(client, path, {"status": "booked"}, agent_headers)
    neither = support.post_json(client, path, {}, agent_headers)
    response = support.post_json(client, path, {"status": "cancelled"}, agent_headers)

    assert hidden.status_code == 404
    assert invalid.status_code == 400
    assert invalid.json_body["error"]["field"] == "status"
    assert neither.status_code == 400
    assert neither.json_body["error"]["field"] == "body"
    assert response.status_code == 200
    assert response.json_body["status"] == "cancelled"
    assert response.json_body["changed"] is True
    assert appointments.slot(start)["booked"] == 0
    assert appointments.run(case["case_id"])["status"] == "stopped"


def test_agent_reschedule_starts_new_occurrence(client, agent_headers):
    appointments.configure()
    first = appointments.put_slot(appointments.in_hours(30))
    second = appointments.put_slot(appointments.in_hours(54), office="norte", capacity=1)
    case = appointments.booked(client, first)
    path = f"/cases/{case['case_id']}/appointment"

    response = support.post_json(
        client, path, {"starts_at": second, "office": "norte"}, agent_headers
    )
    again = support.post_json(client, path, {"starts_at": second, "office": "norte"}, agent_headers)

    assert response.status_code == 200, response.json_body
    assert response.json_body["occurrence"] == 2
    assert response.json_body["starts_at"] == second
    assert appointments.slot(first)["booked"] == 0
    assert appointments.slot(second, office="norte")["booked"] == 1
    assert again.status_code == 400
    item = appointments.appointment(case["case_id"])
    assert item["status"] == "booked"
    assert item["office"] == "norte"
    assert appointments.run(case["case_id"])["status"] == "stopped"
    new_run = support.get_item(f"CASE#{case['case_id']}", "WORKFLOW#appointment_reminder#2")
    assert new_run["status"] == "running"
    assert appointments.steps(case["citizen_id"]) == [("rescheduled", "agent")]
    citizen_case = support.get_item(f"CITIZEN#{case['citizen_id']}", f"CASE#{case['case_id']}")
    assert citizen_case["appointment_starts_at"] == second


def test_agent_reschedule_to_full_slot_is_conflict(client, agent_headers):
    appointments.configure()
    first = appointments.put_slot(appointments.in_hours(30))
    full = appointments.put_slot(appointments.in_hours(54), capacity=1, booked=1)
    case = appointments.booked(client, first)

    response = support.post_json(
        client, f"/cases/{case['case_id']}/appointment", {"starts_at": full}, agent_headers
    )

    assert response.status_code == 409
    assert response.json_body["error"]["field"] == "starts_at"
    assert appointments.slot(first)["booked"] == 1
    assert appointments.appointment(case["case_id"])["occurrence"] == 1


def test_call_list_of_other_agency_is_not_found(client, water_agent_headers):
    response = client.http.get(
        "/reports/agencies/demo/appointments?status=unconfirmed&date=2026-12-07",
        headers=water_agent_headers,
    )

    assert response.status_code == 404


def test_call_list_needs_date(client, agent_headers):
    response = client.http.get(
        "/reports/agencies/demo/appointments?status=unconfirmed", headers=agent_headers
    )

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "query.date"
