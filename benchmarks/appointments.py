"""Appointment scenarios of benchmarks/aws_calls.py.

Requests per booking are counted as the other scenarios are. A reminder run is
measured from its execution history: state transitions (one per state entered, which
Step Functions standard workflows bill) and the messages its callback tasks sent to
the workflow task queue. Both depend on the path the run takes, not on the machine.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from tests import support
from tests import support_appointments as appointments
from tests.support_calls import AwsCallLog, count_aws_calls
from tests.support_workflows import (
    execution_history,
    run_workflow_tasks,
    state_transitions,
    task_messages,
)

BOOK_FORM = "POST /appointments"
BOOK_CHAT = "POST /chat/sessions/{id}/appointments"
# Seconds a run waits for an answer on each channel in the unanswered scenario.
SHORT_ANSWER_WAIT = 1
SETTLE_SECONDS = 10


@dataclass(frozen=True)
class RunCount:
    transitions: int
    task_messages: int


@dataclass(frozen=True)
class RunScenario:
    description: str
    run: Callable[[Any], RunCount]


def book_form(driver: Any) -> AwsCallLog:
    """Count a web form booking; the agency is cached by an earlier slot listing."""
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(48))
    driver.client.http.get("/agencies/demo/slots?service=licencias")
    with count_aws_calls() as log:
        response = _post(driver, "/appointments", _form(start), {})
    _check(response, 201)
    _settle(response)
    return log


def book_chat(driver: Any) -> AwsCallLog:
    """Count a booking in an open chat session, agency cached."""
    appointments.configure()
    start = appointments.put_slot(appointments.in_hours(48))
    session_id, token = driver.open_chat()
    body = {"service": appointments.SERVICE, "office": appointments.OFFICE, "starts_at": start}
    with count_aws_calls() as log:
        response = _post(
            driver, f"/chat/sessions/{session_id}/appointments", body, {"X-Session-Token": token}
        )
    _check(response, 201)
    _settle(response)
    return log


def confirmed_on_first_channel(driver: Any) -> RunCount:
    """Run a reminder that goes out on WhatsApp and is confirmed by an SMS reply."""
    with driver.graph():
        case = _remind(driver, answer_wait_seconds=60)
        driver.sms(appointments.PHONE, "1", "sms-confirm-benchmark")
        run_workflow_tasks(driver.client, until=lambda: _succeeded(case["case_id"]))
    return _count(case["case_id"])


def unconfirmed_after_all_channels(driver: Any) -> RunCount:
    """Run a reminder that gets no answer on WhatsApp or SMS, ending on the call list."""
    with driver.graph():
        case = _remind(driver, answer_wait_seconds=SHORT_ANSWER_WAIT)
        run_workflow_tasks(driver.client, until=lambda: _succeeded(case["case_id"]), timeout=30)
    return _count(case["case_id"])


RUN_SCENARIOS = (
    RunScenario("confirmed by a reply to the first channel's reminder", confirmed_on_first_channel),
    RunScenario(
        "unanswered on WhatsApp and SMS, then on the call list", unconfirmed_after_all_channels
    ),
)


def runs_table(rows: list[tuple[RunScenario, RunCount]]) -> str:
    lines = [
        "| workflow | scenario | state transitions | task queue messages |",
        "| --- | --- | ---: | ---: |",
    ]
    for scenario, count in rows:
        lines.append(
            f"| `appointment_reminder` | {scenario.description} | {count.transitions} "
            f"| {count.task_messages} |"
        )
    return "\n".join(lines)


def _remind(driver: Any, answer_wait_seconds: float) -> dict:
    """Book in two hours for a citizen on WhatsApp and SMS; run until the reminder waits."""
    appointments.configure(answer_wait_seconds=answer_wait_seconds)
    start = appointments.put_slot(appointments.in_hours(2))
    response = _post(driver, "/appointments", _form(start, preferred_channel="whatsapp"), {})
    _check(response, 201)
    reference = json.loads(response.body)["case_reference"]
    case = support.case_of_reference(reference)
    appointments.give_channels(case, "whatsapp", "sms", preferred="whatsapp")

    def waiting() -> bool:
        wait = appointments.wait_item(case["citizen_id"], case["case_id"])
        return wait is not None and wait["status"] == "waiting"

    run_workflow_tasks(driver.client, until=waiting)
    return case


def _settle(response: Any) -> None:
    """Wait until the booking's reminder sent its first task message, inside this moto.

    Otherwise moto's execution thread sends it after the scenario's moto has stopped,
    and logs that the queue does not exist.
    """
    case = support.case_of_reference(json.loads(response.body)["case_reference"])
    arn = appointments.run(case["case_id"])["execution_arn"]
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if any(event["type"] == "TaskSubmitted" for event in execution_history(arn)):
            return
        time.sleep(0.05)
    raise RuntimeError("the reminder sent no task message")


def _succeeded(case_id: str) -> bool:
    arn = appointments.run(case_id)["execution_arn"]
    stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
    return stepfunctions.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def _count(case_id: str) -> RunCount:
    arn = appointments.run(case_id)["execution_arn"]
    return RunCount(transitions=state_transitions(arn), task_messages=task_messages(arn))


def _form(start: str, **changes: str) -> dict:
    return {
        "agency_id": "demo",
        "service": appointments.SERVICE,
        "office": appointments.OFFICE,
        "starts_at": start,
        "name": "Ana López",
        "phone": "55 4163 7145",
        "language": "es",
        **changes,
    }


def _post(driver: Any, path: str, body: dict, headers: dict[str, str]) -> Any:
    return driver._post(path, body, headers)


def _check(response: Any, status_code: int) -> None:
    if response.status_code != status_code:
        raise RuntimeError(f"expected {status_code}, got {response.status_code}: {response.body!r}")
