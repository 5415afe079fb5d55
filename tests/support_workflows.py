"""Drive Step Functions workflows in moto: deliver task messages, wait for executions."""

import json
import time
from collections.abc import Callable
from typing import Any

import boto3

from chalicelib import settings

REGION = "us-east-1"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def task_queue_url() -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs.get_queue_url(QueueName=settings.WORKFLOW_TASKS_QUEUE)["QueueUrl"]


def dead_letter_queue_url() -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    name = f"{settings.WORKFLOW_TASKS_QUEUE}-dead-letter"
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def sqs_event(message: dict, queue_url: str) -> dict:
    """Build the event Lambda's SQS event source passes for one received message."""
    queue_name = queue_url.rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"],
                    "SentTimestamp": message["Attributes"].get("SentTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{queue_name}",
                "awsRegion": REGION,
            }
        ]
    }


def run_workflow_tasks(
    client: Any,
    *,
    until: Callable[[], bool] | None = None,
    timeout: float = 10.0,
    max_messages: int | None = None,
) -> list[dict]:
    """Deliver task messages to `workflow_tasks` as Lambda would, until `until()` holds.

    A message whose invocation raised is made visible again at once, as a shorter
    visibility timeout would, so SQS's receive count and redrive to the dead-letter
    queue behave as on AWS. Returns the bodies delivered, in order, with each
    invocation's error (or None) under "error".
    """
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = task_queue_url()
    delivered: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until is not None and until():
            return delivered
        if max_messages is not None and len(delivered) >= max_messages:
            return delivered
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        if not messages:
            time.sleep(0.05)
            continue
        message = messages[0]
        body = json.loads(message["Body"])
        try:
            client.lambda_.invoke("workflow_tasks", sqs_event(message, queue_url))
        except Exception as error:  # noqa: BLE001 - the invocation's failure is the result
            delivered.append({**body, "error": error})
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
            continue
        delivered.append({**body, "error": None})
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    if until is not None and not until():
        raise AssertionError(f"workflow tasks did not reach the condition in {timeout} s")
    return delivered


def execution_status(execution_arn: str) -> str:
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    return stepfunctions.describe_execution(executionArn=execution_arn)["status"]


def wait_for_execution(
    execution_arn: str, statuses: frozenset[str] = TERMINAL, timeout: float = 10.0
) -> dict:
    """Poll until the execution reaches one of `statuses`; return its description."""
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    while True:
        description = stepfunctions.describe_execution(executionArn=execution_arn)
        if description["status"] in statuses:
            return description
        if time.monotonic() > deadline:
            raise AssertionError(
                f"execution stayed {description['status']}, expected one of {sorted(statuses)}"
            )
        time.sleep(0.05)


def execution_history(execution_arn: str) -> list[dict]:
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    events, token = [], None
    while True:
        kwargs = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        response = stepfunctions.get_execution_history(**kwargs)
        events += response["events"]
        token = response.get("nextToken")
        if not token:
            return events


def state_transitions(execution_arn: str) -> int:
    """Count the state transitions Step Functions bills for: one per state entered."""
    return sum(1 for event in execution_history(execution_arn) if event["type"].endswith("Entered"))


def task_messages(execution_arn: str) -> int:
    """Count the SQS messages an execution sent to the task queue."""
    return sum(
        1
        for event in execution_history(execution_arn)
        if event["type"] == "TaskScheduled"
        and event.get("taskScheduledEventDetails", {}).get("resourceType") == "sqs"
    )
