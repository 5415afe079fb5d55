"""Callbacks through Amazon Connect: a task contact that waits in the caller's queue.

A callback requested from the contact flow becomes a task (`StartTaskContact`) that
runs the agency's callback flow. That flow sets the working queue from the task's
`callback_queue_arn` attribute, when there is one, and transfers the task to it. The
agent who accepts the task sees the number to call, the case reference and whether the
number is verified, and calls the citizen from the Contact Control Panel.

Why a task, and not the other calls that place a callback:
- `StartOutboundVoiceContact` dials at once, while the citizen is still on the inbound
  call, and does not wait for an agent in the queue.
- Connect's own queued callback ("Set callback number", then "Transfer to queue" in
  callback mode) exists only as flow blocks: no API call creates one, so Ventanilla
  could neither name the case on it nor record it.

The task's `ClientToken` derives from the call, so a repeated request for the same call
returns the task already created instead of a second one (AWS's idempotency contract
for ClientToken; the API reference does not state how long Connect keeps a token).

NOTE: a task enters its queue when it is created, so citizens who joined the queue
during the call get ahead of it. The callback flow can adjust that with the "Change
routing priority / age" block.
"""

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, deadline
from chalicelib.errors import ServiceUnavailableError
from chalicelib.observability import logger

# Connect's limits on task fields, from botocore 1.43's model of StartTaskContact.
MAX_NAME_LENGTH = 1024
MAX_DESCRIPTION_LENGTH = 4096


class CallbackError(ServiceUnavailableError):
    """A callback task that Connect did not create, with Connect's error code or a reason."""

    code = "callback_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the callback task was not created: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class CallbackTask:
    """The fields of a callback task: where it runs, whom to call, and the text agents read."""

    instance_arn: str
    flow_id: str
    # The call's leg that requested the callback, shown as the task's previous contact.
    contact_id: str
    # The id shared by every leg of the call, from which the ClientToken derives.
    call_id: str
    phone: str
    name: str
    description: str
    attributes: dict[str, str]


def client_token(call_id: str) -> str:
    """Return the ClientToken of a call's callback: one task per call, however often asked."""
    return f"ventanilla-callback-{call_id}"


def start_callback_task(task: CallbackTask) -> str:
    """Create the task and return its contact id; raises CallbackError when Connect does not.

    No request is made when the deadline cannot fit one.
    """
    if not deadline.allows(aws.bounded_request_seconds()):
        raise CallbackError("timed_out")
    try:
        response = aws.client("connect").start_task_contact(
            InstanceId=instance_id(task.instance_arn),
            ContactFlowId=task.flow_id,
            PreviousContactId=task.contact_id,
            Name=task.name[:MAX_NAME_LENGTH],
            Description=task.description[:MAX_DESCRIPTION_LENGTH],
            References={"callback_number": {"Value": task.phone, "Type": "STRING"}},
            Attributes=task.attributes,
            ClientToken=client_token(task.call_id),
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        logger.warning("callback task not created", extra={"error_code": code})
        raise CallbackError(code) from error
    except BotoCoreError as error:
        error_type = type(error).__name__
        logger.warning("callback task not created", extra={"error_type": error_type})
        raise CallbackError(error_type) from error
    return response["ContactId"]


def instance_id(instance_arn: str) -> str:
    """Return the id at the end of an instance ARN (`arn:aws:connect:...:instance/<id>`)."""
    return instance_arn.rsplit("/", 1)[-1]
