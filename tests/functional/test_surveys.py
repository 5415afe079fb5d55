"""The satisfaction survey end to end in moto: resolve, ask, answer on any channel, record.

Each test resolves a case through the case lifecycle, whose status-change hook starts
the survey. The demo agency sends at once (no delay, quiet hours off) and gives short
answer windows, because moto's Wait and task timeouts really sleep.
"""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from chalicelib.clock import isoformat_z
from chalicelib.journey import lifecycle
from chalicelib.journey.references import format_reference
from chalicelib.store.models import Case
from chalicelib.workflows import surveys
from chalicelib.workflows.survey_figures import local_day
from tests import support
from tests import support_notify as notify_support
from tests import support_webhooks as hooks
from tests.support import CITIZEN_PHONE, invoke_sms, query_items, serialize_moto_requests, sms_event
from tests.support_workflows import (
    execution_history,
    run_workflow_tasks,
    state_transitions,
    task_messages,
    wait_for_execution,
)

ANSWER_SECONDS = 20
AGENT = lifecycle.Actor("agent", "agent-demo-0001")
THANKS = "¡Gracias por calificarnos! Su opinión nos ayuda a mejorar."
ENDED = "Gracias. La encuesta de este caso ya cerró."


@pytest.fixture
def survey_agency(aws, monkeypatch):
    serialize_moto_requests(monkeypatch)
    notify_support.set_agency(
        "demo",
        survey_delay_seconds=0,
        survey_answer_seconds=ANSWER_SECONDS,
        calendar={"quiet_hours": None},
    )


@pytest.fixture
def sms(survey_agency):
    return support.SmsOutbox.attach()


@pytest.fixture
def graph(survey_agency, monkeypatch):
    """A Graph API on 127.0.0.1 that the product's settings point at."""
    with notify_support.graph_fake() as fake:
        monkeypatch.setenv("VENTANILLA_META_GRAPH_URL", fake.url)
        notify_support.reload_settings()
        parameters.clear_caches()
        yield fake
    notify_support.reload_settings()
    parameters.clear_caches()


@pytest.fixture
def whatsapp_case(client, graph, sms):
    """A case opened on WhatsApp by a citizen whose phone is verified by SMS too."""
    whatsapp(client, "wamid.in-1", "Hay un bache frente a mi casa")
    (case,) = cases()
    notify_support.link_identity(case.citizen_id, "phone", CITIZEN_PHONE)
    return case


@pytest.fixture
def sms_case(client, sms):
    """A case opened by SMS."""
    reply_sms(client, "Hay una fuga de agua en mi calle", "sms-in-1")
    (case,) = cases()
    return case


def whatsapp(client, message_id: str, text: str) -> None:
    response = hooks.post_signed(
        client,
        hooks.WHATSAPP_PATH,
        hooks.whatsapp_body(message_id, text),
        "dev-whatsapp-app-secret-6f1d2c",
    )
    assert response.status_code == 200


def reply_sms(client, text: str, message_id: str) -> None:
    invoke_sms(client, sms_event("sms_follow_up", messageBody=text, inboundMessageId=message_id))


def cases() -> list[Case]:
    return list(Case.scan((Case.sk == "CASE") & Case.pk.startswith("CASE#")))


def change(case: Case, status: str) -> Case:
    """Change the case's status through the case lifecycle, as an agent does."""
    stored = Case.get(f"CASE#{case.case_id}", "CASE")
    return lifecycle.change_case(stored, lifecycle.CaseUpdate(status=status), AGENT).case


def resolve(case: Case) -> str | None:
    """Resolve the case; return the ARN of the survey the status-change hook started."""
    resolved = change(case, "resolved")
    occurrence = int(resolved.resolution_count)
    run = support.get_item(f"CASE#{case.case_id}", f"WORKFLOW#satisfaction_survey#{occurrence}")
    return run["execution_arn"] if run else None


def reopen(case: Case) -> None:
    change(case, "open")


def survey_item(case: Case, occurrence: int = 1) -> dict:
    return support.get_item(f"CASE#{case.case_id}", f"SURVEY#{occurrence:04d}")


def waiting(case: Case) -> bool:
    return any(
        wait["status"] == "waiting" for wait in query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
    )


def status(execution_arn: str) -> str:
    return boto3.client("stepfunctions", region_name="us-east-1").describe_execution(
        executionArn=execution_arn
    )["status"]


def run_until_waiting(client, case: Case) -> None:
    run_workflow_tasks(client, until=lambda: waiting(case))


def run_until_done(client, execution_arn: str, timeout: float = 10.0) -> dict:
    run_workflow_tasks(client, until=lambda: status(execution_arn) != "RUNNING", timeout=timeout)
    return wait_for_execution(execution_arn)


def steps(case: Case) -> list[str]:
    return [
        item["workflow_step"]
        for item in support.timeline(case.citizen_id)
        if item.get("kind") == "workflow"
        and item.get("case_id") == case.case_id
        and item.get("workflow_kind") == "satisfaction_survey"
    ]


def figures_today() -> dict:
    from chalicelib.agencies import get_agency

    day = local_day(get_agency("demo"), datetime.now(UTC))
    return support.get_item("AGENCY#demo", f"SATISFACTION#{day}") or {}


def sent_bodies(outbox, phone: str = CITIZEN_PHONE) -> list[str]:
    return [request["MessageBody"] for request in outbox.to(phone)]


def whatsapp_lists(graph) -> list[dict]:
    return [
        request.body["interactive"]
        for request in graph.to("/messages")
        if request.body.get("type") == "interactive"
    ]


def whatsapp_list_reply(client, message_id: str, row_id: str) -> None:
    """Post the sample list reply, as WhatsApp sends a tapped list row, with another row id."""
    payload = json.loads(hooks.raw_event("whatsapp_list_reply"))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = message_id
    message["interactive"]["list_reply"].update({"id": row_id, "title": "4 Bien"})
    response = hooks.post_signed(
        client, hooks.WHATSAPP_PATH, hooks.signed_json(payload), "dev-whatsapp-app-secret-6f1d2c"
    )
    assert response.status_code == 200


def staff_alerts_queue() -> str:
    """Subscribe a queue to the staff alerts topic, as an operator's mail or chat relay would."""
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic_arn = next(
        topic["TopicArn"]
        for topic in sns.list_topics()["Topics"]
        if topic["TopicArn"].endswith(":ventanilla-test-staff-alerts")
    )
    queue_url = sqs.create_queue(QueueName="staff-alerts-relay")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def test_survey_whatsapp_answered_by_sms(client, whatsapp_case, graph, sms):
    case = whatsapp_case

    execution_arn = resolve(case)
    run_until_waiting(client, case)

    question = whatsapp_lists(graph)[-1]
    assert question["type"] == "list"
    assert question["body"]["text"].startswith("¿Cómo atendimos su caso ")
    assert "1 a 5" in question["body"]["text"]
    rows = question["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [
        "rating:5",
        "rating:4",
        "rating:3",
        "rating:2",
        "rating:1",
    ]
    assert rows[0]["title"] == "5 Excelente"
    reply_sms(client, "5", "sms-answer-1")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    survey = survey_item(case)
    assert survey["status"] == "answered"
    assert survey["rating"] == 5
    assert survey["channel"] == "whatsapp"
    assert survey["answer_channel"] == "sms"
    stored = support.case_item(case.case_id)
    assert stored["satisfaction_rating"] == 5
    assert stored["status"] == "resolved"
    assert len(cases()) == 1
    assert steps(case) == ["scheduled", "sent", "answered"]
    assert sent_bodies(sms).count(THANKS) == 1
    figures = figures_today()
    assert figures["surveys_sent"] == 1
    assert figures["answers"] == 1
    assert figures["score_sum"] == 5
    assert figures["score_5"] == 1
    assert "no_answer" not in figures


def test_survey_whatsapp_list_row_is_answer(client, whatsapp_case, graph, sms):
    case = whatsapp_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    whatsapp_list_reply(client, "wamid.answer-1", "rating:4")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    survey = survey_item(case)
    assert survey["rating"] == 4
    assert survey["answer_channel"] == "whatsapp"
    texts = [
        request.body["text"]["body"]
        for request in graph.to("/messages")
        if request.body.get("type") == "text"
    ]
    assert texts.count(THANKS) == 1
    assert texts[-1] == THANKS


def test_survey_other_list_row_is_no_answer(client, whatsapp_case, graph, sms):
    case = whatsapp_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    whatsapp_list_reply(client, "wamid.other-1", "topic-water-leak")

    assert status(execution_arn) == "RUNNING"
    assert survey_item(case)["status"] == "sent"


def email_reply(client, ses_message_id: str, subject: str, text: str) -> None:
    """Deliver the sample email from its sender with another subject and body."""
    event = hooks.email_event(ses_message_id, f"<{ses_message_id}@example.net>")
    message = hooks.sns_message(event)
    content = message["content"].replace("Subject: Sigue la fuga", f"Subject: {subject}")
    body = "Hola, la fuga de la calle Juárez sigue igual después de la visita del martes."
    quoted = f"{text}\r\n\r\nEl vie, 4 dic 2026 a las 10:00, Ayuntamiento escribió:\r\n> {body}"
    message["content"] = content.replace(body, quoted)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message, ensure_ascii=False)
    hooks.invoke(client, "inbound_email", event)


def test_survey_email_answered_by_reply(client, survey_agency, demo_agency):
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress=demo_agency["email_address"])
    hooks.invoke(client, "inbound_email", hooks.email_event("ses-in-1", "<in-1@example.net>"))
    (case,) = cases()
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    question = [
        item
        for item in support.timeline(case.citizen_id)
        if item["direction"] == "outbound" and item["channel"] == "email"
    ][-1]
    assert (
        "Responda a este correo con un número del 1 (muy mal) al 5 (excelente)."
        in (question["body"])
    )
    subject = f"Re: Su caso {format_reference(case.reference)}"
    email_reply(client, "ses-answer-1", subject, "4")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["rating"] == 4
    assert survey_item(case)["answer_channel"] == "email"
    assert support.case_item(case.case_id)["status"] == "resolved"
    assert len(cases()) == 1


def test_survey_starts_on_patch_resolved(client, sms_case, sms, agent_headers):
    case = sms_case
    body = json.dumps({"version": int(case.version), "status": "resolved"})
    headers = {"Content-Type": "application/json", **agent_headers}

    response = client.http.request(
        method="PATCH", path=f"/cases/{case.case_id}", headers=headers, body=body
    )
    run_until_waiting(client, case)

    assert response.status_code == 200, response.body
    assert survey_item(case)["status"] == "sent"
    assert steps(case) == ["scheduled", "sent"]


def test_survey_answer_is_on_the_rated_case(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    reply_sms(client, "cinco estrellas", "sms-answer-1")
    run_until_done(client, execution_arn)

    answers = [
        item
        for item in support.timeline(case.citizen_id)
        if item["direction"] == "inbound" and item.get("body") == "cinco estrellas"
    ]
    assert len(answers) == 1
    assert answers[0]["case_id"] == case.case_id
    assert len(cases()) == 1
    assert survey_item(case)["rating"] == 5


def test_survey_sms_question_asks_for_digit(client, sms_case, sms):
    resolve(sms_case)
    run_until_waiting(client, sms_case)

    question = sent_bodies(sms)[-1]
    assert question.startswith("Califique la atención de su caso ")
    assert question.endswith("responda 1 a 5.")
    assert len(question) <= 70


def test_survey_low_rating_opens_recovery(client, sms_case, sms, agent_headers):
    case = sms_case
    alerts = staff_alerts_queue()
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    reply_sms(client, "2", "sms-answer-1")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    (recovery,) = [item for item in cases() if item.case_type == "recovery"]
    assert recovery.linked_case_id == case.case_id
    assert recovery.citizen_id == case.citizen_id
    assert recovery.status == "open"
    assert recovery.gsi1pk == "AGENCY#demo#STATUS#open"
    rated = support.case_item(case.case_id)
    assert rated["linked_case_id"] == recovery.case_id
    assert rated["satisfaction_rating"] == 2
    assert survey_item(case)["recovery_case_id"] == recovery.case_id
    assert steps(case) == ["scheduled", "sent", "answered", "recovery_opened"]
    assert steps(recovery) == ["recovery_of"]
    assert figures_today()["recoveries_opened"] == 1
    assert state_transitions(execution_arn) == 9
    assert task_messages(execution_arn) == 4
    view = client.http.get(f"/cases/{case.case_id}", headers=agent_headers).json_body
    assert view["satisfaction_rating"] == 2
    assert view["linked_case_id"] == recovery.case_id

    sqs = boto3.client("sqs", region_name="us-east-1")
    (delivered,) = sqs.receive_message(QueueUrl=alerts, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(delivered["Body"])
    alert = json.loads(envelope["Message"])
    assert alert["type"] == "low_satisfaction_rating"
    assert alert["case_id"] == case.case_id
    assert alert["recovery_case_id"] == recovery.case_id
    assert alert["rating"] == 2
    assert envelope["MessageAttributes"]["agency"]["Value"] == "demo"
    assert envelope["MessageAttributes"]["role"]["Value"] == "supervisor"
    assert CITIZEN_PHONE not in delivered["Body"]


def test_survey_high_rating_opens_no_recovery(client, sms_case, sms):
    execution_arn = resolve(sms_case)
    run_until_waiting(client, sms_case)

    reply_sms(client, "3", "sms-answer-1")
    run_until_done(client, execution_arn)

    assert [item.case_type for item in cases()] == [None]


def test_survey_unanswered_records_no_answer(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_answer_seconds=1)

    execution_arn = resolve(case)
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["status"] == "no_answer"
    assert steps(case) == ["scheduled", "sent", "no_answer"]
    assert state_transitions(execution_arn) == 6
    assert task_messages(execution_arn) == 3
    figures = figures_today()
    assert figures["no_answer"] == 1
    assert figures["surveys_sent"] == 1
    assert "answers" not in figures


def test_survey_answer_after_window_gets_polite_reply(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_answer_seconds=1)
    execution_arn = resolve(case)
    run_until_done(client, execution_arn)
    before = figures_today()

    reply_sms(client, "4", "sms-late-1")

    assert sent_bodies(sms).count(ENDED) == 1
    assert survey_item(case)["status"] == "no_answer"
    assert "rating" not in survey_item(case)
    assert figures_today() == before
    assert len(cases()) == 1
    assert support.case_item(case.case_id)["status"] == "resolved"


def test_survey_expired_token_gets_polite_reply(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_answer_seconds=1)
    execution_arn = resolve(case)
    run_until_done(client, execution_arn)
    # The wait still looks open, as when the state's timeout fired before the stored
    # deadline: Step Functions then rejects the task token.
    (wait,) = query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
    future = isoformat_z(datetime.now(UTC) + timedelta(hours=1))
    support.table().update_item(
        Key={"pk": wait["pk"], "sk": wait["sk"]},
        UpdateExpression="SET #status = :waiting, answer_by = :future",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":waiting": "waiting", ":future": future},
    )

    reply_sms(client, "5", "sms-late-1")

    (wait,) = query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
    assert wait["status"] == "expired"
    assert sent_bodies(sms).count(ENDED) == 1
    assert survey_item(case)["status"] == "no_answer"


def test_survey_duplicate_answer_resumes_once(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    reply_sms(client, "5", "sms-answer-1")
    reply_sms(client, "5", "sms-answer-1")
    reply_sms(client, "1", "sms-answer-2")
    run_until_done(client, execution_arn)

    assert survey_item(case)["rating"] == 5
    assert figures_today()["answers"] == 1
    assert sent_bodies(sms).count(THANKS) == 1
    assert [item.case_type for item in cases()] == [None]


def test_survey_other_message_stays_a_message(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    reply_sms(client, "5 baches más en la calle", "sms-other-1")

    assert status(execution_arn) == "RUNNING"
    assert waiting(case)
    assert survey_item(case)["status"] == "sent"
    messages = [
        item
        for item in support.timeline(case.citizen_id)
        if item.get("body") == "5 baches más en la calle"
    ]
    assert len(messages) == 1
    assert messages[0]["kind"] == "message"
    assert messages[0]["case_id"] != case.case_id
    reply_sms(client, "4", "sms-answer-1")
    run_until_done(client, execution_arn)
    assert survey_item(case)["rating"] == 4


def test_survey_reopened_before_sending_stops(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_delay_seconds=2)
    execution_arn = resolve(case)
    sent_before = len(sms.sent)

    reopen(case)
    run_workflow_tasks(client, timeout=3.5)

    assert survey_item(case)["status"] == "stopped"
    assert survey_item(case)["reason"] == "reopened"
    assert len(sms.sent) == sent_before
    assert "stopped" in steps(case)
    [run] = query_items(f"CASE#{case.case_id}", "WORKFLOW#")
    assert run["status"] == "stopped"
    assert execution_arn


def test_survey_reopened_by_quoted_reference_stops(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_delay_seconds=2)
    resolve(case)

    reply_sms(client, f"Sigue la fuga, caso {case.reference}", "sms-quote-1")
    sent_before = len(sms.sent)
    run_workflow_tasks(client, timeout=3.5)

    assert support.case_item(case.case_id)["status"] == "open"
    assert survey_item(case)["status"] == "stopped"
    assert survey_item(case)["reason"] == "reopened"
    assert len(sms.sent) == sent_before
    assert steps(case) == ["scheduled", "stopped"]


def test_survey_reopen_racing_the_send_is_not_sent(client, sms_case, sms):
    """A reopening that the hook has not seen yet: the ask step reads the case again."""
    case = sms_case
    notify_support.set_agency("demo", survey_delay_seconds=1)
    execution_arn = resolve(case)
    sent_before = len(sms.sent)

    support.set_case_status(case.case_id, "open")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["status"] == "stopped"
    assert len(sms.sent) == sent_before
    assert steps(case) == ["scheduled", "not_sent"]


def test_survey_reopened_after_sending_keeps_window(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    reopen(case)
    reply_sms(client, "4", "sms-answer-1")
    run_until_done(client, execution_arn)

    assert survey_item(case)["rating"] == 4
    assert "stopped" not in steps(case)


def test_survey_closed_after_resolution_keeps_window(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    change(case, "closed")
    reply_sms(client, "4", "sms-answer-1")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["rating"] == 4
    assert support.case_item(case.case_id)["status"] == "closed"


def test_survey_cancelled_case_stops_sent_survey(client, sms_case, sms):
    case = sms_case
    resolve(case)
    run_until_waiting(client, case)

    reopen(case)
    change(case, "cancelled")
    reply_sms(client, "4", "sms-answer-1")

    assert survey_item(case)["status"] == "stopped"
    assert survey_item(case)["reason"] == "cancelled"
    [run] = query_items(f"CASE#{case.case_id}", "WORKFLOW#")
    assert run["status"] == "stopped"
    assert sent_bodies(sms).count(ENDED) == 1


def test_survey_second_resolution_is_second_survey(client, sms_case, sms):
    case = sms_case
    first = resolve(case)
    run_until_waiting(client, case)
    reply_sms(client, "4", "sms-answer-1")
    run_until_done(client, first)
    reopen(case)

    second = resolve(case)
    run_until_waiting(client, case)
    reply_sms(client, "5", "sms-answer-2")
    run_until_done(client, second)

    assert second != first
    assert survey_item(case, 1)["rating"] == 4
    assert survey_item(case, 2)["rating"] == 5
    assert support.case_item(case.case_id)["satisfaction_rating"] == 5


def test_survey_repeated_hook_starts_once(client, sms_case, sms):
    case = sms_case
    first = resolve(case)

    again = surveys.start_survey(Case.get(f"CASE#{case.case_id}", "CASE"))

    assert again == first
    runs = query_items(f"CASE#{case.case_id}", "WORKFLOW#")
    assert len(runs) == 1
    assert steps(case) == ["scheduled"]


def test_survey_disabled_agency_starts_nothing(client, sms_case, sms):
    notify_support.set_agency("demo", surveys_enabled=False)

    assert resolve(sms_case) is None
    assert query_items(f"CASE#{sms_case.case_id}", "WORKFLOW#") == []
    assert survey_item(sms_case) is None


def test_survey_disabled_before_sending_ends_unsent(client, sms_case, sms):
    case = sms_case
    notify_support.set_agency("demo", survey_delay_seconds=1)
    execution_arn = resolve(case)
    sent_before = len(sms.sent)
    notify_support.set_agency("demo", surveys_enabled=False)

    run_until_done(client, execution_arn)

    assert survey_item(case)["status"] == "stopped"
    assert survey_item(case)["reason"] == "disabled"
    assert len(sms.sent) == sent_before


def test_survey_voice_case_asks_verified_phone(client, sms_case, sms):
    case = sms_case
    support.table().update_item(
        Key={"pk": f"CASE#{case.case_id}", "sk": "CASE"},
        UpdateExpression="SET last_channel = :voice",
        ExpressionAttributeValues={":voice": "voice"},
    )

    resolve(case)
    run_until_waiting(client, case)

    assert sent_bodies(sms)[-1].startswith("Califique la atención de su caso ")
    assert survey_item(case)["channel"] == "sms"


def test_survey_voice_case_without_verified_phone(client, sms_case, sms):
    case = sms_case
    support.table().update_item(
        Key={"pk": f"CASE#{case.case_id}", "sk": "CASE"},
        UpdateExpression="SET last_channel = :voice",
        ExpressionAttributeValues={":voice": "voice"},
    )
    support.table().update_item(
        Key={"pk": f"CITIZEN#{case.citizen_id}", "sk": "PROFILE"},
        UpdateExpression="REMOVE verified_identities",
    )
    sent_before = len(sms.sent)

    execution_arn = resolve(case)
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["status"] == "not_sent"
    assert survey_item(case)["reason"] == "no_verified_phone"
    assert len(sms.sent) == sent_before
    assert steps(case) == ["scheduled", "not_sent"]


def test_survey_recovery_case_gets_no_survey(client, sms_case, sms):
    case = sms_case
    execution_arn = resolve(case)
    run_until_waiting(client, case)
    reply_sms(client, "1", "sms-answer-1")
    run_until_done(client, execution_arn)
    (recovery,) = [item for item in cases() if item.case_type == "recovery"]

    assert resolve(recovery) is None


def test_survey_counts_transitions_and_messages(client, sms_case, sms):
    answered = resolve(sms_case)
    run_until_waiting(client, sms_case)
    reply_sms(client, "4", "sms-answer-1")
    run_until_done(client, answered)

    assert state_transitions(answered) == 7
    assert task_messages(answered) == 3
    assert [event["type"] for event in execution_history(answered)][-1] == "ExecutionSucceeded"


def test_survey_report_matches_runs(client, sms, graph, agent_tokens):
    """Three surveys (ratings 5 and 2, one unanswered) against the report route.

    By hand: 3 questions sent and 2 answers with a sum of 7, so the average is 3.5.
    The scores are one 5 and one 2, and there are one unanswered survey and one
    recovery case.
    """
    reply_sms(client, "Hay una fuga de agua en mi calle", "sms-in-1")
    whatsapp(client, "wamid.in-1", "Hay un bache")
    first, second = sorted(cases(), key=lambda item: item.last_channel)
    assert first.last_channel == "sms"
    assert second.last_channel == "whatsapp"

    execution = resolve(first)
    run_until_waiting(client, first)
    reply_sms(client, "5", "sms-answer-1")
    run_until_done(client, execution)
    execution = resolve(second)
    run_until_waiting(client, second)
    whatsapp(client, "wamid.answer-2", "2")
    run_until_done(client, execution)
    reopen(first)
    notify_support.set_agency("demo", survey_answer_seconds=1)
    execution = resolve(first)
    run_until_done(client, execution)

    from chalicelib.agencies import get_agency

    today = local_day(get_agency("demo"), datetime.now(UTC))
    headers = agent_tokens.headers(roles=["supervisor"])
    path = f"/reports/agencies/demo/satisfaction?from={today}&to={today}"
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200, response.body
    totals = response.json_body["totals"]
    assert totals["surveys_sent"] == 3
    assert totals["answers"] == 2
    assert totals["score_sum"] == 7
    assert totals["average"] == 3.5
    assert totals["scores"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert totals["no_answer"] == 1
    assert totals["recoveries_opened"] == 1


def test_survey_chat_answered_in_session(client, survey_agency):
    session = support.open_chat(client, "demo", name="Ana López", language="es")
    response = support.post_chat(client, session, "Quiero reportar un bache", "m-1")
    assert response.status_code == 201, response.body
    (case,) = cases()
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    shown = support.chat_messages(client, session).json_body["messages"]
    assert shown[-1]["text"].startswith("¿Cómo atendimos su caso ")
    support.post_chat(client, session, "5", "m-2")
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["channel"] == "chat"
    assert survey_item(case)["answer_channel"] == "chat"
    assert survey_item(case)["rating"] == 5
    texts = [
        message["text"] for message in support.chat_messages(client, session).json_body["messages"]
    ]
    assert texts[-1] == THANKS


def messenger(client, message: dict) -> None:
    payload = json.loads(hooks.raw_event("messenger_text"))
    payload["entry"][0]["messaging"][0]["message"] = message
    response = hooks.post_signed(
        client, hooks.MESSENGER_PATH, hooks.signed_json(payload), "dev-messenger-app-secret-0e7a45"
    )
    assert response.status_code == 200


def test_survey_messenger_quick_reply_is_answer(client, graph, sms):
    messenger(client, {"mid": "m_in-1", "text": "Hay un bache en Hidalgo"})
    (case,) = cases()
    execution_arn = resolve(case)
    run_until_waiting(client, case)

    question = graph.to("/me/messages")[-1].body["message"]
    assert question["text"].startswith("¿Cómo atendimos su caso ")
    replies = question["quick_replies"]
    assert [reply["payload"] for reply in replies] == [
        "rating:5",
        "rating:4",
        "rating:3",
        "rating:2",
        "rating:1",
    ]
    messenger(
        client, {"mid": "m_answer-1", "text": "4 Bien", "quick_reply": {"payload": "rating:4"}}
    )
    description = run_until_done(client, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert survey_item(case)["rating"] == 4
    assert survey_item(case)["answer_channel"] == "messenger"
