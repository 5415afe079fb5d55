"""Start and stop the Step Functions workflows of a case, and record their steps.

Each workflow is one execution per case, kind and occurrence, named from the
three, so that a repeated start is recognised. Step Functions returns the
running execution's ARN for the same name and input, and
`ExecutionAlreadyExists` for the same name with other input or after the
execution ended (names stay reserved for 90 days). Both mean "already started".
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from chalicelib import aws
from chalicelib.clock import isoformat_z, utc_now
from chalicelib.errors import DuplicateEventError, ValidationError
from chalicelib.journey.records import contact_id_for, new_contact, new_marker
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.models import Case, WorkflowRun, case_key, workflow_run_sort_key
from chalicelib.store.transactions import DEDUPE, Transaction

APPOINTMENT_REMINDER = "appointment_reminder"
COMPLAINT_DEADLINE = "complaint_deadline"
SATISFACTION_SURVEY = "satisfaction_survey"
KINDS = (APPOINTMENT_REMINDER, COMPLAINT_DEADLINE, SATISFACTION_SURVEY)

RUNNING = "running"
STOPPED = "stopped"
ENDED = "ended"

# Step Functions allows 80 characters of letters, digits, `-` and `_` in a name.
NAME_LENGTH = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# The channel name of workflow steps on the timeline and of their dedupe markers.
WORKFLOW_CHANNEL = "workflow"


@dataclass(frozen=True)
class StartResult:
    execution_arn: str
    # False when an execution of that name existed already.
    started: bool


def execution_name(case_id: str, kind: str, occurrence: str) -> str:
    """Return the execution name of one occurrence of a case's workflow.

    Raises ValidationError for an unknown kind. Characters Step Functions does not
    allow become `_`; a name that would be too long ends in a digest instead.
    """
    if kind not in KINDS:
        raise ValidationError(f"unknown workflow kind {kind!r}", field="kind")
    name = _UNSAFE.sub("_", f"{case_id}-{kind}-{occurrence}")
    if len(name) <= NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: NAME_LENGTH - len(digest) - 1]}-{digest}"


# The account of moto's local and test stacks.
LOCAL_ACCOUNT_ID = "123456789012"


def state_machine_arn(kind: str) -> str:
    """Return the ARN of a workflow kind's state machine in this stage.

    Without `VENTANILLA_STATE_MACHINE_ARN_PREFIX` the account is the one running the
    code, asked of STS once per container on Lambda, and moto's account elsewhere.
    """
    current = get_settings()
    if current.state_machine_arn_prefix:
        return f"{current.state_machine_arn_prefix}{kind}"
    account = _account_id() if current.on_lambda else LOCAL_ACCOUNT_ID
    return (
        f"arn:aws:states:{current.region}:{account}:stateMachine:ventanilla-{current.stage}-{kind}"
    )


@cache
def _account_id() -> str:
    return aws.client("sts").get_caller_identity()["Account"]


def start_workflow(kind: str, case: Case, occurrence: str, workflow_input: dict) -> StartResult:
    """Start one occurrence of a workflow for a case, once however often it is called."""
    name = execution_name(case.case_id, kind, occurrence)
    machine_arn = state_machine_arn(kind)
    payload = {
        **workflow_input,
        "case_id": case.case_id,
        "agency_id": case.agency_id,
        "citizen_id": case.citizen_id,
        "kind": kind,
        "occurrence": str(occurrence),
    }
    started = True
    try:
        response = aws.client("stepfunctions").start_execution(
            stateMachineArn=machine_arn, name=name, input=json.dumps(payload)
        )
        execution_arn = response["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        execution_arn = _execution_arn(machine_arn, name)
        started = False
    _remember_run(case, kind, str(occurrence), execution_arn)
    logger.info(
        "workflow started" if started else "workflow already started",
        extra={"case_id": case.case_id, "workflow": kind, "execution": name},
    )
    return StartResult(execution_arn=execution_arn, started=started)


def stop_workflows(case: Case, reason: str, kinds: set[str] | None = None) -> list[str]:
    """Stop the case's running workflows (all, or those of `kinds`); return their ARNs.

    The waits of a stopped workflow end with it, so a later answer gets the polite
    reply of an ended wait.
    """
    from chalicelib.workflows import waits

    stopped = []
    for run in WorkflowRun.query(case_key(case.case_id), WorkflowRun.sk.startswith("WORKFLOW#")):
        if run.status != RUNNING or (kinds is not None and run.kind not in kinds):
            continue
        try:
            aws.client("stepfunctions").stop_execution(
                executionArn=run.execution_arn, error="ventanilla.CaseChanged", cause=reason
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
        run.update(
            actions=[
                WorkflowRun.status.set(STOPPED),
                WorkflowRun.ended_at.set(isoformat_z(utc_now())),
                WorkflowRun.stop_reason.set(reason[:200]),
            ]
        )
        waits.end_waits(case, run.kind)
        stopped.append(run.execution_arn)
        logger.info("workflow stopped", extra={"case_id": case.case_id, "workflow": run.kind})
    return stopped


def mark_ended(case_id: str, kind: str, occurrence: str) -> None:
    """Record that a workflow reached its end, so closing the case does not stop it again."""
    WorkflowRun(case_key(case_id), workflow_run_sort_key(kind, occurrence)).update(
        actions=[WorkflowRun.status.set(ENDED), WorkflowRun.ended_at.set(isoformat_z(utc_now()))],
        condition=WorkflowRun.pk.exists(),
    )


def record_step(
    case: Case,
    kind: str,
    step: str,
    *,
    external_id: str,
    body: str | None = None,
    channel: str | None = None,
    occurred_at: datetime | None = None,
) -> bool:
    """Put a workflow step on the citizen's timeline once; return False if it was there.

    `external_id` names the step uniquely, such as the execution and state, so a
    retried task records it once. `channel` is the channel the step used, if any.
    """
    now = utc_now()
    scoped_id = f"{case.case_id}#{kind}#{external_id}"
    contact = new_contact(
        contact_id=contact_id_for(WORKFLOW_CHANNEL, scoped_id),
        citizen_id=case.citizen_id,
        agency_id=case.agency_id,
        channel=channel or WORKFLOW_CHANNEL,
        direction="internal",
        kind="workflow",
        occurred_at=occurred_at or now,
        now=now,
        body=body,
        case_id=case.case_id,
        case_reference=case.reference,
        external_id=scoped_id,
    )
    contact.workflow_kind = kind
    contact.workflow_step = step
    transaction = Transaction()
    transaction.put_new(new_marker(WORKFLOW_CHANNEL, scoped_id, contact, now), DEDUPE)
    transaction.put(contact, "contact")
    try:
        transaction.commit()
    except DuplicateEventError:
        return False
    logger.info("workflow step recorded", extra={"case_id": case.case_id, "step": step})
    return True


def _remember_run(case: Case, kind: str, occurrence: str, execution_arn: str) -> None:
    run = WorkflowRun(
        case_key(case.case_id),
        workflow_run_sort_key(kind, occurrence),
        case_id=case.case_id,
        kind=kind,
        occurrence=occurrence,
        execution_arn=execution_arn,
        status=RUNNING,
        started_at=isoformat_z(utc_now()),
    )
    try:
        run.save(condition=WorkflowRun.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"
