"""The effect of an inbound message on a workflow waiting for the citizen."""

from chalicelib.journey.models import InboundMessage, InboundResult
from chalicelib.notify import sender as notify
from chalicelib.observability import logger
from chalicelib.workflows import waits
from chalicelib.workflows.tasks import _load_task_modules


def resume_waiting_workflow(message: InboundMessage, result: InboundResult) -> waits.Resumed | None:
    """Resume the workflow this recorded message answers, or reply that it ended.

    A redelivered message tries again, because the first delivery may have failed
    before it resumed the workflow; the claim on the wait makes it resume once. An
    answer to a question whose wait ended or expired gets one polite reply on the
    channel it came from (never for a redelivery), and nothing is resumed. Raises
    the error of a failed resume, so the channel delivers the message again.
    """
    _load_task_modules()
    resumed = waits.resume_from_message(
        result.citizen_id,
        message.agency.agency_id,
        message.channel,
        message.body,
        message.content_kind,
        message.content,
    )
    if resumed is None or resumed.outcome == "resumed" or result.duplicate:
        return resumed
    text = waits.ended_text(resumed.wait.kind, result.language)
    if text:
        notify.send_text(
            agency=message.agency,
            channel=message.channel,
            citizen_id=result.citizen_id,
            to=message.sender,
            text=text,
            case_id=resumed.wait.case_id,
            inbound_at=message.occurred_at,
            session_id=message.session_id,
            kind="workflow_answer",
        )
    logger.info(
        "workflow answer not resumed",
        extra={"case_id": resumed.wait.case_id, "outcome": resumed.outcome},
    )
    return resumed
