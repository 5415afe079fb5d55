"""Workflows waiting for a citizen's answer, resumed by a reply on any channel.

A waiting task stores its Step Functions task token under the citizen and
agency. When the citizen writes to that agency on any channel, the newest wait
whose parser reads the message as an answer is claimed with a conditional
write, so that a duplicate or racing reply resumes the execution once, and the
execution continues with SendTaskSuccess.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import UpdateError

from chalicelib import aws
from chalicelib.clock import isoformat_z, parse_utc, utc_now
from chalicelib.observability import logger
from chalicelib.store.models import Case, WorkflowWait, citizen_key, workflow_wait_sort_key
from chalicelib.workflows.tasks import TaskRequest, _load_task_modules

WAITING = "waiting"
ANSWERED = "answered"
ENDED = "ended"
EXPIRED = "expired"

# An ended wait is kept this long after its answer window, so a late answer still
# gets the polite reply instead of being read as a new question.
KEEP_AFTER_END = timedelta(days=7)

# Parses a reply into the output the waiting task succeeds with, or None when the
# message is no answer: (text, content kind, content) → output.
AnswerParser = Callable[[str, str, dict | None], dict | None]


@dataclass(frozen=True)
class AnswerKind:
    parse: AnswerParser
    # A one-segment reply by language, for an answer that came after the wait ended.
    ended_text: dict[str, str]


@dataclass(frozen=True)
class Resumed:
    """The outcome of an answer: "resumed", "ended" or "expired"."""

    outcome: str
    wait: WorkflowWait
    output: dict


_answer_kinds: dict[str, AnswerKind] = {}


def register_answers(kind: str, parse: AnswerParser, ended_text: dict[str, str]) -> None:
    """Register how replies to a workflow kind's questions are read."""
    _answer_kinds[kind] = AnswerKind(parse=parse, ended_text=ended_text)


def store_wait(
    request: TaskRequest, case: Case, kind: str, answer_by: datetime, context: dict | None = None
) -> WorkflowWait:
    """Store the task token of a question to the citizen until `answer_by`.

    A newer question of the same case and kind replaces the older one.
    """
    now = utc_now()
    wait = WorkflowWait(
        citizen_key(case.citizen_id),
        workflow_wait_sort_key(case.agency_id, case.case_id, kind),
        citizen_id=case.citizen_id,
        agency_id=case.agency_id,
        case_id=case.case_id,
        kind=kind,
        execution_arn=request.execution_arn,
        task_token=request.token,
        status=WAITING,
        asked_at=isoformat_z(now),
        answer_by=isoformat_z(answer_by),
        context=context or {},
        expires_at=answer_by + KEEP_AFTER_END,
    )
    wait.save()
    return wait


def end_waits(case: Case, kind: str | None = None) -> None:
    """Mark the case's open waits ended, because their workflow stopped."""
    prefix = workflow_wait_sort_key(case.agency_id, case.case_id, kind or "")
    for wait in WorkflowWait.query(
        citizen_key(case.citizen_id), WorkflowWait.sk.startswith(prefix)
    ):
        if wait.status == WAITING:
            _set_status(wait, ENDED)


def resume_from_message(
    citizen_id: str,
    agency_id: str,
    channel: str,
    text: str,
    content_kind: str = "text",
    content: dict | None = None,
) -> Resumed | None:
    """Resume the citizen's newest open wait at the agency that this message answers.

    Returns None when no registered parser reads the message as an answer, or when
    the citizen has no wait it answers. The message is then an ordinary message. Costs
    one Query only for messages some parser accepts.
    """
    parsed = _parse_all(text, content_kind, content)
    if not parsed:
        return None
    wait = _answered_wait(citizen_id, agency_id, parsed)
    if wait is None:
        return None
    output = {**parsed[wait.kind], "channel": channel}
    return _resume(wait, output)


def answered_case_id(
    citizen_id: str, agency_id: str, text: str, content_kind: str, content: dict | None
) -> str | None:
    """Return the case of the citizen's newest wait at the agency that this message answers.

    Waits that ended or expired count too, as long as they are kept, so a late answer
    joins the case it answers instead of opening a new one. Returns None, after no
    read, when no registered parser reads the message as an answer.
    """
    # The parsers register when their modules load, on first use rather than at cold start.
    _load_task_modules()
    parsed = _parse_all(text, content_kind, content)
    if not parsed:
        return None
    wait = _answered_wait(citizen_id, agency_id, parsed)
    return wait.case_id if wait is not None else None


def _answered_wait(citizen_id: str, agency_id: str, parsed: dict[str, dict]) -> WorkflowWait | None:
    """Return the wait a parsed answer is for: the newest still waiting, else the newest kept.

    Preferring open waits lets a second answer reach the older of two questions once
    the newer one was answered.
    """
    waits = [
        wait
        for wait in WorkflowWait.query(
            citizen_key(citizen_id), WorkflowWait.sk.startswith(f"WAIT#{agency_id}#")
        )
        if wait.kind in parsed
    ]
    open_waits = [wait for wait in waits if wait.status == WAITING]
    candidates = open_waits or waits
    return max(candidates, key=lambda wait: wait.asked_at) if candidates else None


def ended_text(kind: str, language: str) -> str | None:
    texts = _answer_kinds[kind].ended_text if kind in _answer_kinds else {}
    return texts.get(language) or texts.get("es")


def _parse_all(text: str, content_kind: str, content: dict | None) -> dict[str, dict]:
    parsed = {}
    for kind, answers in _answer_kinds.items():
        output = answers.parse(text, content_kind, content)
        if output is not None:
            parsed[kind] = output
    return parsed


def _resume(wait: WorkflowWait, output: dict) -> Resumed:
    now = utc_now()
    if wait.status != WAITING:
        return Resumed(outcome=ENDED, wait=wait, output=output)
    if parse_utc(wait.answer_by) < now:
        _set_status(wait, EXPIRED)
        return Resumed(outcome=EXPIRED, wait=wait, output=output)
    if not _claim(wait, output, now):
        # Another reply claimed the wait first: this one changes nothing.
        return Resumed(outcome=ENDED, wait=wait, output=output)
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=wait.task_token, output=json.dumps({**output, **_context(wait)})
        )
    except (ClientError, BotoCoreError) as error:
        if not _token_gone(error):
            # Release the claim, so the redelivered message can resume the workflow.
            _set_status(wait, WAITING, expected=ANSWERED)
            raise
        _set_status(wait, EXPIRED, expected=ANSWERED)
        logger.info("workflow answer rejected: task token expired", extra={"case_id": wait.case_id})
        return Resumed(outcome=EXPIRED, wait=wait, output=output)
    logger.info(
        "workflow resumed",
        extra={"case_id": wait.case_id, "workflow": wait.kind, "channel": output["channel"]},
    )
    return Resumed(outcome="resumed", wait=wait, output=output)


def _claim(wait: WorkflowWait, output: dict, now: datetime) -> bool:
    try:
        wait.update(
            actions=[
                WorkflowWait.status.set(ANSWERED),
                WorkflowWait.answered_at.set(isoformat_z(now)),
                WorkflowWait.answered_channel.set(str(output.get("channel"))),
            ],
            condition=(WorkflowWait.status == WAITING)
            & (WorkflowWait.task_token == wait.task_token),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _context(wait: WorkflowWait) -> dict:
    context = wait.context
    if context is None:
        return {}
    return context.as_dict() if hasattr(context, "as_dict") else dict(context)


def _token_gone(error: Exception) -> bool:
    """Tell whether Step Functions rejected the token because its task is over."""
    if not isinstance(error, ClientError):
        return False
    return error.response["Error"]["Code"] in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


def _set_status(wait: WorkflowWait, status: str, expected: str = WAITING) -> None:
    try:
        wait.update(
            actions=[WorkflowWait.status.set(status)],
            condition=(WorkflowWait.status == expected)
            & (WorkflowWait.task_token == wait.task_token),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def describe(wait: WorkflowWait) -> dict[str, Any]:
    """Return the fields of a wait an agent may see, without its token."""
    return {
        "kind": wait.kind,
        "case_id": wait.case_id,
        "status": wait.status,
        "asked_at": wait.asked_at,
        "answer_by": wait.answer_by,
    }
