"""The `workflow_tasks` queue: Step Functions callback tasks that need our code.

A state machine step sends `{"task", "token", "execution", "input"}` to the queue
with `sqs:sendMessage.waitForTaskToken`; the handler runs the task registered
under that name and reports the outcome to the execution with
SendTaskSuccess or SendTaskFailure. The queue delivers one message per invocation, so a failing
task never re-runs another.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import VentanillaError
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# The return value of a task that keeps its token for later, such as a wait for the citizen.
PENDING = object()

# SendTaskFailure accepts an error name of up to 256 characters and a cause of up
# to 32768; ours are short, fixed and free of personal data.
ERROR_PREFIX = "ventanilla."


@dataclass(frozen=True)
class TaskRequest:
    name: str
    token: str
    execution_arn: str
    # The state's input, as the state machine passed it.
    input: dict
    # How many times SQS has delivered this message, 1 on the first delivery.
    receive_count: int


class TaskFailedError(VentanillaError):
    """A task that cannot succeed; the execution gets `ventanilla.<code>` at once."""

    code = "task_failed"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TaskMessageError(VentanillaError):
    """A queue message that is not a task of a state machine."""

    code = "invalid_task_message"


TaskFunction = Callable[[TaskRequest], Any]
_registry: dict[str, TaskFunction] = {}


def task(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register a function as the task named `name` in state machine definitions."""

    def register(function: TaskFunction) -> TaskFunction:
        if name in _registry and _registry[name] is not function:
            raise ValueError(f"workflow task {name!r} is registered twice")
        _registry[name] = function
        return function

    return register


def registered_tasks() -> frozenset[str]:
    _load_task_modules()
    return frozenset(_registry)


def handle(record: dict) -> None:
    """Run the task of one SQS record and report its outcome to the execution.

    Raises the task's unexpected error, so SQS delivers the message again. On the
    last delivery the execution is failed first, so its error path runs while the
    message goes to the dead-letter queue.
    """
    request = parse_record(record)
    function = _task_function(request)
    log_fields = {"task": request.name, "execution": request.execution_arn.rsplit(":", 1)[-1]}
    try:
        output = function(request)
    except TaskFailedError as error:
        logger.warning("workflow task failed", extra={**log_fields, "error_code": error.code})
        _send_failure(request, error.code, error.message)
        return
    except Exception:
        last = request.receive_count >= get_settings().workflow_task_max_receives
        logger.exception(
            "workflow task raised", extra={**log_fields, "receive_count": request.receive_count}
        )
        if last:
            _send_failure(request, "TaskFailed", f"task {request.name} failed on every retry")
        raise
    if output is PENDING:
        logger.info("workflow task waiting", extra=log_fields)
        return
    _send_success(request, output or {})
    logger.info("workflow task done", extra=log_fields)


def parse_record(record: dict) -> TaskRequest:
    """Read one SQS record of Lambda's event; raises TaskMessageError if it is no task."""
    try:
        body = json.loads(record["body"])
        receive_count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except (KeyError, TypeError, ValueError) as error:
        raise TaskMessageError("the queue message is not JSON with a task") from error
    if not isinstance(body, dict):
        raise TaskMessageError("the queue message is not a JSON object")
    fields = {key: body.get(key) for key in ("task", "token", "execution")}
    missing = [key for key, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        raise TaskMessageError(f"the task message lacks {', '.join(missing)}", field=missing[0])
    state_input = body.get("input")
    return TaskRequest(
        name=fields["task"],
        token=fields["token"],
        execution_arn=fields["execution"],
        input=state_input if isinstance(state_input, dict) else {},
        receive_count=receive_count,
    )


def _task_function(request: TaskRequest) -> TaskFunction:
    _load_task_modules()
    function = _registry.get(request.name)
    if function is None:
        # A definition names a task this version does not have: failing the
        # execution at once beats letting it wait for its timeout.
        _send_failure(request, "UnknownTask", f"no workflow task is named {request.name}")
        raise TaskMessageError(f"unknown workflow task {request.name!r}", field="task")
    return function


def _send_success(request: TaskRequest, output: dict) -> None:
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=request.token, output=json.dumps(output)
        )
    except ClientError as error:
        if not _token_gone(error):
            raise
        # The execution stopped or timed out while the task ran; nothing waits.
        logger.info("workflow task outlived its execution", extra={"task": request.name})


def _send_failure(request: TaskRequest, code: str, cause: str) -> None:
    try:
        aws.client("stepfunctions").send_task_failure(
            taskToken=request.token, error=f"{ERROR_PREFIX}{code}", cause=cause[:1000]
        )
    except ClientError as error:
        if not _token_gone(error):
            raise


def _token_gone(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


def _load_task_modules() -> None:
    """Import the modules that register tasks, on first use rather than at cold start."""
    from chalicelib.workflows import registry  # noqa: F401
