"""Case lifecycle and complaint deadlines end to end: agent API, workflow, timeline, notices.

The demo agency's complaint type gets a wall-clock deadline of a few seconds, because
moto's Wait states really sleep. Business-time arithmetic is the calendar module's and
has its own unit tests; here the same code paths run on the wall clock.
"""

import json
import time

import boto3
import pytest

from chalicelib.clock import parse_utc
from chalicelib.journey import lifecycle
from chalicelib.store.models import Case, case_key
from chalicelib.workflows import complaints
from tests.fixtures_agents import DEMO_AGENT, receive_sms
from tests.support import query_items, serialize_moto_requests, timeline
from tests.support_notify import set_agency
from tests.support_workflows import (
    dead_letter_queue_url,
    execution_status,
    run_workflow_tasks,
    wait_for_execution,
)

PHONE = "+525541637145"
OTHER_AGENT = "agent-demo-0002"
REGION = "us-east-1"


def _fast_types(response: int = 4, reminder: int = 2, head_after: int = 2) -> dict:
    return {
        "complaint": {
            "response": {"seconds": response},
            "reminder_before": {"seconds": reminder},
            "head_after": {"seconds": head_after},
            "paused_check": {"seconds": 1},
            "label": {"es": "Queja", "en": "Complaint"},
        },
        "request": {"response": {"business_days": 10}},
        "appointment": {},
    }


@pytest.fixture
def staff_alerts(aws, monkeypatch):
    """A queue subscribed to the staff alerts topic; returns a function that drains it."""
    serialize_moto_requests(monkeypatch)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = next(arn for arn in aws.values() if arn.endswith("-staff-alerts"))
    queue_url = sqs.create_queue(QueueName="test-staff-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    received: list[dict] = []

    def drain() -> list[dict]:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return received
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {
                    name: value["Value"]
                    for name, value in envelope.get("MessageAttributes", {}).items()
                }
                received.append({"message": envelope["Message"], **attributes})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return drain


@pytest.fixture
def fast_deadlines(aws):
    set_agency("demo", case_types=_fast_types())


@pytest.fixture
def sms_case(client, demo_agency, sms_outbox, fast_deadlines, staff_alerts):
    """A demo case opened by SMS, with the SMS outbox and the staff alerts."""
    from chalicelib.store.models import IdentityLink, identity_key

    receive_sms(client, sender=PHONE, to=demo_agency["sms_number"], body="Bache", message_id="s-1")
    link = IdentityLink.get(identity_key("phone", PHONE), "LINK")
    return link.open_cases.as_dict()["demo"]["case_id"]


def _patch(client, headers, case_id, body, extra_headers=None):
    return client.http.request(
        method="PATCH",
        path=f"/cases/{case_id}",
        headers={"Content-Type": "application/json", **headers, **(extra_headers or {})},
        body=json.dumps(body).encode(),
    )


def _case(case_id: str) -> Case:
    return Case.get(case_key(case_id), "CASE", consistent_read=True)


def _execution_arn(case_id: str, occurrence: int = 1) -> str:
    runs = query_items(f"CASE#{case_id}", f"WORKFLOW#complaint_deadline#{occurrence}")
    assert len(runs) == 1, runs
    return runs[0]["execution_arn"]


def _steps(case: Case) -> list[str]:
    entries = timeline(case.citizen_id)
    return [entry["workflow_step"] for entry in entries if entry.get("workflow_step")]


def _texts(sms_outbox) -> list[str]:
    return [sent["MessageBody"] for sent in sms_outbox]


def _file_complaint(client, agent_headers, case_id, version=1):
    body = {"version": version, "case_type": "complaint", "assigned_agent_id": DEMO_AGENT}
    response = _patch(client, agent_headers, case_id, body)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def test_complaint_escalates_to_supervisor_then_head(
    client, agent_headers, sms_case, sms_outbox, staff_alerts
):
    filed = _file_complaint(client, agent_headers, sms_case)

    assert filed["case_type"] == "complaint"
    assert filed["assigned_agent_id"] == DEMO_AGENT
    assert filed["version"] == 2
    assert filed["deadline"]["status"] == "running"
    assert filed["deadline"]["escalation_level"] == 0
    assert filed["deadline"]["paused"] is False
    assert "Queja" in _texts(sms_outbox)[-1]
    assert "respuesta a más tardar el" in _texts(sms_outbox)[-1]

    arn = _execution_arn(sms_case)
    run_workflow_tasks(client, until=lambda: execution_status(arn) != "RUNNING", timeout=30)

    assert wait_for_execution(arn)["status"] == "SUCCEEDED"
    case = _case(sms_case)
    assert case.deadline.escalation_level == 2
    assert case.deadline.reminded_at is not None
    steps = _steps(case)
    assert steps[:4] == [
        "deadline_started",
        "agent_reminded",
        "escalated_to_supervisor",
        "escalated_to_head",
    ]
    alerts = staff_alerts()
    assert [alert["role"] for alert in alerts] == ["agent", "supervisor", "head"]
    assert {alert["agency"] for alert in alerts} == {"demo"}
    assert {alert["agent_id"] for alert in alerts} == {DEMO_AGENT}
    texts = _texts(sms_outbox)
    assert any("pasó a un supervisor" in text for text in texts)
    assert any("pasó a la dirección" in text for text in texts)
    view = json.loads(client.http.get(f"/cases/{sms_case}", headers=agent_headers).body)
    assert view["deadline"]["escalation_level"] == 2
    assert view["deadline"]["overdue"] is True


def test_complaint_notices_fit_one_sms_segment(client, agent_headers, sms_case, sms_outbox):
    _file_complaint(client, agent_headers, sms_case)

    assert sms_outbox[-1]["MessageBody"].startswith("Queja ")
    assert len(sms_outbox[-1]["MessageBody"]) <= 70


def test_complaint_resolved_before_deadline_stops_workflow(
    client, agent_headers, sms_case, staff_alerts
):
    set_agency("demo", case_types=_fast_types(response=30, reminder=10))
    _file_complaint(client, agent_headers, sms_case)
    arn = _execution_arn(sms_case)

    response = _patch(client, agent_headers, sms_case, {"version": 2, "status": "resolved"})

    assert response.status_code == 200, response.body
    assert json.loads(response.body)["deadline"]["status"] == "stopped"
    assert wait_for_execution(arn)["status"] == "ABORTED"
    assert query_items("AGENCY#demo#DEADLINES") == []
    assert "deadline_stopped" in _steps(_case(sms_case))
    assert staff_alerts() == []


def test_complaint_pause_and_agent_resume_move_deadline(client, agent_headers, sms_case):
    set_agency("demo", case_types=_fast_types(response=60, reminder=10))
    filed = _file_complaint(client, agent_headers, sms_case)
    due = parse_utc(filed["deadline"]["due_at"])

    paused = _patch(client, agent_headers, sms_case, {"version": 2, "status": "waiting_citizen"})
    assert paused.status_code == 200, paused.body
    assert json.loads(paused.body)["deadline"]["paused"] is True
    assert query_items("AGENCY#demo#DEADLINES") == []
    time.sleep(2)
    resumed = _patch(client, agent_headers, sms_case, {"version": 3, "status": "open"})

    assert resumed.status_code == 200, resumed.body
    deadline = json.loads(resumed.body)["deadline"]
    assert deadline["paused"] is False
    # Remaining time is kept in whole seconds, so up to one second of the pause is lost.
    assert (parse_utc(deadline["due_at"]) - due).total_seconds() >= 1
    entries = query_items("AGENCY#demo#DEADLINES")
    assert [entry["due_at"] for entry in entries] == [deadline["due_at"]]
    steps = _steps(_case(sms_case))
    assert "deadline_paused" in steps
    assert "deadline_resumed" in steps


def test_complaint_citizen_answer_resumes_deadline(
    client, agent_headers, demo_agency, sms_case, sms_outbox
):
    set_agency("demo", case_types=_fast_types(response=8, reminder=1, head_after=30))
    filed = _file_complaint(client, agent_headers, sms_case)
    due = parse_utc(filed["deadline"]["due_at"])
    _patch(client, agent_headers, sms_case, {"version": 2, "status": "waiting_citizen"})
    time.sleep(2)

    receive_sms(
        client,
        sender=PHONE,
        to=demo_agency["sms_number"],
        body="Ya envié la foto",
        message_id="s-2",
    )
    run_workflow_tasks(client, until=lambda: _case(sms_case).status == "open", timeout=20)

    case = _case(sms_case)
    assert case.deadline.status == "running"
    assert (parse_utc(case.deadline.due_at) - due).total_seconds() >= 1
    assert "deadline_resumed" in _steps(case)
    assert sum("respuesta a más tardar" in text for text in _texts(sms_outbox)) == 2


def test_complaint_closing_stops_workflow(client, agent_headers, sms_case):
    set_agency("demo", case_types=_fast_types(response=30, reminder=10))
    _file_complaint(client, agent_headers, sms_case)
    arn = _execution_arn(sms_case)

    response = _patch(client, agent_headers, sms_case, {"version": 2, "status": "closed"})

    assert response.status_code == 200, response.body
    assert wait_for_execution(arn)["status"] == "ABORTED"
    run = query_items(f"CASE#{sms_case}", "WORKFLOW#complaint_deadline#1")[0]
    assert run["status"] == "stopped"
    assert _case(sms_case).status == "closed"


def test_complaint_failing_task_marks_case_failed(
    client, agent_headers, sms_case, staff_alerts, monkeypatch
):
    set_agency("demo", case_types=_fast_types(response=1, reminder=1))

    def broken(*_args, **_kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(complaints, "_check", broken)
    _file_complaint(client, agent_headers, sms_case)
    arn = _execution_arn(sms_case)

    delivered = run_workflow_tasks(
        client, until=lambda: execution_status(arn) != "RUNNING", timeout=30
    )

    checks = [item for item in delivered if item["task"] == complaints.CHECK_TASK]
    assert len(checks) == 3
    assert all(item["error"] is not None for item in checks)
    assert wait_for_execution(arn)["status"] == "FAILED"
    case = _case(sms_case)
    assert case.deadline.status == "failed"
    assert case.deadline.error == "ventanilla.TaskFailed"
    assert "deadline_failed" in _steps(case)
    (entry,) = query_items("AGENCY#demo#DEADLINES")
    assert entry["status"] == "failed"
    assert [alert["role"] for alert in staff_alerts()] == ["supervisor"]
    sqs = boto3.client("sqs", region_name=REGION)
    dead = sqs.receive_message(QueueUrl=dead_letter_queue_url()).get("Messages", [])
    assert len(dead) == 1


def test_case_change_with_stale_version_is_409(client, agent_headers, sms_case):
    _file_complaint(client, agent_headers, sms_case)

    response = _patch(client, agent_headers, sms_case, {"version": 1, "status": "resolved"})

    assert response.status_code == 409
    assert json.loads(response.body)["error"]["field"] == "version"
    assert _case(sms_case).status == "open"


def test_case_change_takes_version_from_if_match(client, agent_headers, sms_case):
    read = client.http.get(f"/cases/{sms_case}", headers=agent_headers)
    assert read.headers["ETag"] == '"1"'

    response = _patch(
        client, agent_headers, sms_case, {"status": "waiting_citizen"}, {"If-Match": '"1"'}
    )

    assert response.status_code == 200, response.body
    assert response.headers["ETag"] == '"2"'
    stale = _patch(client, agent_headers, sms_case, {"status": "open"}, {"If-Match": '"1"'})
    assert stale.status_code == 409


def test_case_change_without_version_is_400(client, agent_headers, sms_case):
    response = _patch(client, agent_headers, sms_case, {"status": "resolved"})

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["field"] == "version"


def test_case_change_of_other_agency_is_hidden(
    client, water_agent_headers, sms_case, audit_records
):
    response = _patch(client, water_agent_headers, sms_case, {"version": 1, "status": "closed"})

    assert response.status_code == 404
    assert _case(sms_case).status == "open"
    record = audit_records()[-1]
    assert record["action"] == "case.update"
    assert record["outcome"] == "denied"
    assert record["reason"] == "case belongs to another agency"


def test_case_change_rejects_forbidden_transition(client, agent_headers, sms_case):
    cancelled = _patch(client, agent_headers, sms_case, {"version": 1, "status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.body

    response = _patch(client, agent_headers, sms_case, {"version": 2, "status": "open"})

    assert response.status_code == 409
    assert json.loads(response.body)["error"]["field"] == "status"


def test_case_change_rejects_unknown_type(client, agent_headers, sms_case):
    response = _patch(client, agent_headers, sms_case, {"version": 1, "case_type": "parking"})

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["field"] == "case_type"


def test_case_change_agent_assigns_only_self(client, agent_headers, agent_tokens, sms_case):
    response = _patch(
        client, agent_headers, sms_case, {"version": 1, "assigned_agent_id": OTHER_AGENT}
    )
    assert response.status_code == 403

    supervisor = agent_tokens.headers(roles=("supervisor",))
    assigned = _patch(
        client, supervisor, sms_case, {"version": 1, "assigned_agent_id": OTHER_AGENT}
    )

    assert assigned.status_code == 200, assigned.body
    assert json.loads(assigned.body)["assigned_agent_id"] == OTHER_AGENT
    kinds = [entry["kind"] for entry in timeline(_case(sms_case).citizen_id)]
    assert "case_change" in kinds


def test_case_status_change_runs_listeners(client, agent_headers, sms_case, monkeypatch):
    changes: list[lifecycle.StatusChange] = []
    monkeypatch.setattr(lifecycle, "_listeners", [])
    lifecycle.on_status_change(changes.append)

    response = _patch(client, agent_headers, sms_case, {"version": 1, "status": "resolved"})

    assert response.status_code == 200, response.body
    assert len(changes) == 1
    assert changes[0].old_status == "open"
    assert changes[0].new_status == "resolved"
    assert changes[0].case.status == "resolved"
    assert changes[0].actor == lifecycle.Actor("agent", DEMO_AGENT)


def test_deadline_report_lists_near_and_overdue(client, agent_headers, agent_tokens, sms_case):
    set_agency("demo", case_types=_fast_types(response=3600, reminder=60, head_after=60))
    _file_complaint(client, agent_headers, sms_case)
    supervisor = agent_tokens.headers(roles=("supervisor",))

    near = client.http.get("/reports/deadlines?within_hours=2", headers=supervisor)
    far = client.http.get("/reports/deadlines?within_hours=0", headers=supervisor)
    agent = client.http.get("/reports/deadlines", headers=agent_headers)

    assert near.status_code == 200, near.body
    cases = json.loads(near.body)["cases"]
    assert [entry["case_id"] for entry in cases] == [sms_case]
    assert cases[0]["overdue"] is False
    assert cases[0]["assigned_agent_id"] == DEMO_AGENT
    assert json.loads(far.body)["cases"] == []
    assert agent.status_code == 403


def test_complaint_keyword_sms_files_complaint(client, demo_agency, sms_outbox, fast_deadlines):
    from chalicelib.store.models import IdentityLink, identity_key

    receive_sms(
        client,
        sender=PHONE,
        to=demo_agency["sms_number"],
        body="QUEJA: no pasó la basura",
        message_id="s-1",
    )

    link = IdentityLink.get(identity_key("phone", PHONE), "LINK")
    case = _case(link.open_cases.as_dict()["demo"]["case_id"])
    assert case.case_type == "complaint"
    assert case.deadline.status == "running"
    texts = _texts(sms_outbox)
    assert len(texts) == 2
    assert "registrado" in texts[0]
    assert texts[1].startswith("Queja ")
    changes = [entry for entry in timeline(case.citizen_id) if entry["kind"] == "case_change"]
    assert [entry["channel"] for entry in changes] == ["citizen"]


def test_complaint_keyword_only_as_first_word(client, demo_agency, sms_outbox, fast_deadlines):
    from chalicelib.store.models import IdentityLink, identity_key

    receive_sms(
        client, sender=PHONE, to=demo_agency["sms_number"], body="Tengo una queja", message_id="s-1"
    )

    link = IdentityLink.get(identity_key("phone", PHONE), "LINK")
    assert _case(link.open_cases.as_dict()["demo"]["case_id"]).case_type is None
    assert len(sms_outbox) == 1


def test_complaint_reopened_by_reference_restarts_deadline(
    client, agent_headers, demo_agency, sms_case, monkeypatch
):
    set_agency("demo", case_types=_fast_types(response=60, reminder=10))
    changes: list[lifecycle.StatusChange] = []
    monkeypatch.setattr(lifecycle, "_listeners", [])
    lifecycle.on_status_change(changes.append)
    _file_complaint(client, agent_headers, sms_case)
    _patch(client, agent_headers, sms_case, {"version": 2, "status": "resolved"})
    reference = _case(sms_case).reference

    receive_sms(
        client,
        sender=PHONE,
        to=demo_agency["sms_number"],
        body=f"Sigue igual, caso {reference}",
        message_id="s-2",
    )

    case = _case(sms_case)
    assert case.status == "open"
    assert case.deadline.occurrence == 2
    assert case.deadline.status == "running"
    assert execution_status(_execution_arn(sms_case, occurrence=2)) == "RUNNING"
    assert [(change.old_status, change.new_status) for change in changes] == [
        ("open", "resolved"),
        ("resolved", "open"),
    ]
    assert changes[-1].actor == lifecycle.CITIZEN


def test_complaint_workflow_not_started_marks_failed(client, agent_headers, sms_case, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.workflows import engine

    def throttled(*_args, **_kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")

    monkeypatch.setattr(engine, "start_workflow", throttled)

    filed = _file_complaint(client, agent_headers, sms_case)

    assert filed["deadline"]["status"] == "failed"
    assert filed["deadline"]["error"] == "StartExecution.ThrottlingException"
    (entry,) = query_items("AGENCY#demo#DEADLINES")
    assert entry["status"] == "failed"
    assert "deadline_failed" in _steps(_case(sms_case))
