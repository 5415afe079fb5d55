"""The workflow engine in moto: task queue, waits resumed by replies, failures, stops."""

import json

import boto3
import pytest

from chalicelib.store.models import Case
from chalicelib.workflows import engine, tasks, waits
from chalicelib.workflows.tasks import PENDING, TaskFailedError
from tests.support import invoke_sms, query_items, serialize_moto_requests, sms_event, timeline
from tests.support_workflows import (
    dead_letter_queue_url,
    execution_history,
    run_workflow_tasks,
    state_transitions,
    task_messages,
    task_queue_url,
    wait_for_execution,
)

KIND = engine.APPOINTMENT_REMINDER


def _task_state(task: str, next_state: str, **extra) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {
            "QueueUrl": "${WorkflowTasksQueueUrl}",
            "MessageBody": {
                "task": task,
                "token.$": "$$.Task.Token",
                "execution.$": "$$.Execution.Id",
                "input.$": "$",
            },
        },
        "Next": next_state,
        **extra,
    }


DEFINITION = {
    "StartAt": "Ask",
    "States": {
        "Ask": _task_state(
            "engine_test_ask",
            "Record",
            TimeoutSecondsPath="$.answer_seconds",
            ResultPath="$.answer",
            Catch=[
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "NoAnswer"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"},
            ],
        ),
        "Record": _task_state(
            "engine_test_record",
            "Done",
            TimeoutSeconds=30,
            ResultPath="$.recorded",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
        ),
        "NoAnswer": {"Type": "Pass", "Result": "no answer", "ResultPath": "$.outcome", "End": True},
        "Failed": {"Type": "Fail", "Error": "TaskFailed", "Cause": "a workflow task failed"},
        "Done": {"Type": "Succeed"},
    },
}


@tasks.task("engine_test_ask")
def _ask(request: tasks.TaskRequest):
    case = Case.get(f"CASE#{request.input['case_id']}", "CASE")
    if request.input.get("fail") == "permanent":
        raise TaskFailedError("NoChannel", "no channel reaches the citizen")
    if request.input.get("fail") == "always":
        raise RuntimeError("the send failed")
    engine.record_step(case, KIND, "asked", external_id=f"{request.execution_arn}#ask")
    from datetime import timedelta

    from chalicelib.clock import utc_now

    answer_by = utc_now() + timedelta(seconds=int(request.input["answer_seconds"]))
    waits.store_wait(request, case, KIND, answer_by, context={"slot": "s1"})
    return PENDING


@tasks.task("engine_test_record")
def _record(request: tasks.TaskRequest):
    case = Case.get(f"CASE#{request.input['case_id']}", "CASE")
    answer = request.input["answer"]
    engine.record_step(
        case,
        KIND,
        f"answered_{answer['answer']}",
        external_id=f"{request.execution_arn}#record",
        channel=answer["channel"],
    )
    engine.mark_ended(case.case_id, KIND, request.input["occurrence"])
    return {"recorded": True}


def _parse(text: str, content_kind: str, content: dict | None) -> dict | None:
    word = text.strip().lower()
    return {"answer": {"si": "confirm", "no": "cancel"}[word]} if word in ("si", "no") else None


@pytest.fixture
def machine(aws, monkeypatch):
    serialize_moto_requests(monkeypatch)
    monkeypatch.setitem(
        waits._answer_kinds,
        KIND,
        waits.AnswerKind(parse=_parse, ended_text={"es": "Ese recordatorio ya terminó."}),
    )
    definition = json.dumps(DEFINITION).replace("${WorkflowTasksQueueUrl}", task_queue_url())
    boto3.client("stepfunctions", region_name="us-east-1").update_state_machine(
        stateMachineArn=engine.state_machine_arn(KIND), definition=definition
    )


@pytest.fixture
def case(client, machine):
    invoke_sms(client, sms_event("sms_first_message"))
    cases = list(Case.scan((Case.sk == "CASE") & Case.pk.startswith("CASE#")))
    assert len(cases) == 1
    return cases[0]


def _reply(client, text: str, message_id: str):
    return invoke_sms(
        client, sms_event("sms_follow_up", messageBody=text, inboundMessageId=message_id)
    )


def _waiting(case: Case) -> list[dict]:
    return [
        wait
        for wait in query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
        if wait["status"] == "waiting"
    ]


def test_engine_reply_resumes_waiting_execution(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})

    run_workflow_tasks(client, until=lambda: bool(_waiting(case)))
    _reply(client, "Si", "reply-1")
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    description = wait_for_execution(started.execution_arn)
    assert description["status"] == "SUCCEEDED"
    output = json.loads(description["output"])
    assert output["answer"] == {"answer": "confirm", "channel": "sms", "slot": "s1"}
    steps = [item.get("workflow_step") for item in timeline(case.citizen_id)]
    assert "asked" in steps
    assert "answered_confirm" in steps


def test_engine_duplicate_and_second_reply_resume_once(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})
    run_workflow_tasks(client, until=lambda: bool(_waiting(case)))

    _reply(client, "si", "reply-1")
    _reply(client, "si", "reply-1")
    _reply(client, "no", "reply-2")
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    output = json.loads(wait_for_execution(started.execution_arn)["output"])
    assert output["answer"]["answer"] == "confirm"
    assert len(_polite_replies(case)) == 1


def test_engine_repeated_start_is_one_execution(client, case):
    first = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})
    second = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})
    third = engine.start_workflow(KIND, case, "1", {"answer_seconds": 99})

    assert first.started is True
    assert second.execution_arn == first.execution_arn
    assert third.execution_arn == first.execution_arn
    assert third.started is False
    executions = boto3.client("stepfunctions", region_name="us-east-1").list_executions(
        stateMachineArn=engine.state_machine_arn(KIND)
    )["executions"]
    assert len(executions) == 1


def test_engine_unanswered_question_times_out(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 1})
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    output = json.loads(wait_for_execution(started.execution_arn)["output"])
    assert output["outcome"] == "no answer"


def test_engine_reply_after_timeout_gets_polite_answer(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 1})
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    _reply(client, "si", "late-reply")

    [wait] = query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
    assert wait["status"] == "expired"
    polite = _polite_replies(case)
    assert len(polite) == 1
    assert polite[0]["body"] == "Ese recordatorio ya terminó."


def test_engine_task_error_retries_then_fails_execution(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30, "fail": "always"})
    delivered = run_workflow_tasks(
        client, until=lambda: _status(started.execution_arn) != "RUNNING"
    )

    assert [item["task"] for item in delivered] == ["engine_test_ask"] * 3
    assert all(item["error"] is not None for item in delivered)
    description = wait_for_execution(started.execution_arn)
    assert description["status"] == "FAILED"
    failed = [
        event for event in execution_history(started.execution_arn) if "Failed" in event["type"]
    ]
    assert failed[0]["taskFailedEventDetails"]["error"] == "ventanilla.TaskFailed"
    sqs = boto3.client("sqs", region_name="us-east-1")
    # SQS moves a message to the dead-letter queue on the receive after its last one.
    assert sqs.receive_message(QueueUrl=task_queue_url()).get("Messages") is None
    parked = sqs.receive_message(QueueUrl=dead_letter_queue_url(), WaitTimeSeconds=0)
    assert len(parked.get("Messages", [])) == 1


def test_engine_permanent_task_failure_fails_at_once(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30, "fail": "permanent"})
    delivered = run_workflow_tasks(
        client, until=lambda: _status(started.execution_arn) != "RUNNING"
    )

    assert len(delivered) == 1
    assert wait_for_execution(started.execution_arn)["status"] == "FAILED"


def test_engine_stop_ends_execution_and_wait(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 2})
    run_workflow_tasks(client, until=lambda: bool(_waiting(case)))

    stopped = engine.stop_workflows(case, "case closed")
    _reply(client, "si", "reply-after-stop")

    assert stopped == [started.execution_arn]
    # NOTE: moto 5.2.5 leaves a stopped execution RUNNING until its waiting task
    # ends and then reports FAILED; AWS reports ABORTED at once. So only the
    # product's own records are checked here.
    [run] = query_items(f"CASE#{case.case_id}", "WORKFLOW#")
    assert run["status"] == "stopped"
    [wait] = query_items(f"CITIZEN#{case.citizen_id}", "WAIT#")
    assert wait["status"] == "ended"


def test_engine_unknown_task_fails_execution(client, case, monkeypatch):
    monkeypatch.delitem(tasks._registry, "engine_test_ask")
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    assert wait_for_execution(started.execution_arn)["status"] == "FAILED"


def test_engine_counts_transitions_and_messages(client, case):
    started = engine.start_workflow(KIND, case, "1", {"answer_seconds": 30})
    run_workflow_tasks(client, until=lambda: bool(_waiting(case)))
    _reply(client, "si", "reply-1")
    run_workflow_tasks(client, until=lambda: _status(started.execution_arn) != "RUNNING")

    assert state_transitions(started.execution_arn) == 3
    assert task_messages(started.execution_arn) == 2


def test_engine_execution_name_is_safe():
    name = engine.execution_name("c" * 70, KIND, "2026-12-04T10:00:00Z")

    assert len(name) <= engine.NAME_LENGTH
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    assert name != engine.execution_name("c" * 70, KIND, "2026-12-04T10:00:01Z")


def _polite_replies(case: Case) -> list[dict]:
    """The replies to late answers, on the channel the answer came on (SMS)."""
    return [
        item
        for item in timeline(case.citizen_id)
        if item.get("kind") == "workflow_answer" and item.get("channel") == "sms"
    ]


def _status(execution_arn: str) -> str:
    return boto3.client("stepfunctions", region_name="us-east-1").describe_execution(
        executionArn=execution_arn
    )["status"]
