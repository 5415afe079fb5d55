"""Structured logging shared by every handler.

Each event starts with a clean logger state carrying the Lambda context and a
correlation id: the channel's own message id where the event has one, the API
Gateway request id for HTTP, or a generated id when neither exists (the Chalice
test client and `chalice local` send no request id).
"""

import uuid
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="ventanilla")

# Keys of the Lambda context that powertools' own decorator would add.
_CONTEXT_KEYS = {
    "function_name": "function_name",
    "function_request_id": "aws_request_id",
    "function_memory_size": "memory_limit_in_mb",
}


def correlation_id_of(event: Any) -> str:
    """Return the id that ties every log line of one event together."""
    if isinstance(event, dict):
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            sns = records[0].get("Sns")
            if isinstance(sns, dict) and isinstance(sns.get("MessageId"), str):
                return sns["MessageId"]
        details = event.get("Details")
        if isinstance(details, dict) and isinstance(details.get("ContactData"), dict):
            contact_id = details["ContactData"].get("ContactId")
            if isinstance(contact_id, str) and contact_id:
                return contact_id
        detail = event.get("detail")
        if isinstance(detail, dict):
            # An EventBridge event; a Connect contact event names its contact.
            contact_id = detail.get("contactId") or detail.get("ContactId") or event.get("id")
            if isinstance(contact_id, str) and contact_id:
                return contact_id
        context = event.get("requestContext")
        if isinstance(context, dict) and isinstance(context.get("requestId"), str):
            return context["requestId"]
    return str(uuid.uuid4())


def start_event(event: Any, context: Any) -> str:
    """Reset the logger for a new event and return its correlation id."""
    logger.clear_state()
    # Keys appended with thread_safe_append_keys live in this thread's context, which a
    # warm container reuses for its next event.
    logger.thread_safe_clear_keys()
    for key, attribute in _CONTEXT_KEYS.items():
        value = getattr(context, attribute, None)
        if value is not None:
            logger.append_keys(**{key: value})
    correlation_id = correlation_id_of(event)
    logger.set_correlation_id(correlation_id)
    return correlation_id


def original_event(event: Any) -> tuple[Any, Any]:
    """Return the raw event and Lambda context behind a Chalice event object."""
    if hasattr(event, "to_original_event"):
        return event.to_original_event(), getattr(event, "lambda_context", None)
    return event.to_dict(), getattr(event, "context", None)


def logging_middleware(event: Any, get_response: Any) -> Any:
    """Chalice middleware that starts each event's log context."""
    raw_event, context = original_event(event)
    start_event(raw_event, context)
    return get_response(event)
