"""Amazon Connect contact flow invocations (the "Invoke AWS Lambda function" block).

The event is `{"Name": "ContactFlowEvent", "Details": {"ContactData": {...},
"Parameters": {...}}}`. Connect adds fields and enum values over time, so every
model ignores what it does not know and enums are kept as plain strings. The
answer is a flat map of strings, which the flow reads as `$.External.<key>`.
"""

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pynamodb.exceptions import PynamoDBException

from chalicelib import deadline
from chalicelib.agencies import AgencyConfig, agency_for_endpoint
from chalicelib.appointments import phone as appointment_phone
from chalicelib.channels.validation import validate
from chalicelib.errors import VentanillaError
from chalicelib.identity.phones import PhoneNumberError, normalize_phone
from chalicelib.journey import call_links, callbacks, calls
from chalicelib.journey.models import CONNECT_CHAT, VOICE, Identity
from chalicelib.observability import logger
from chalicelib.settings import SettingsError, get_settings

# Caller ids that mean "withheld"; Connect passes what the carrier sent.
ANONYMOUS_CALLERS = {"anonymous", "unknown", "restricted", "private", "unavailable"}

# Connect channels as stored on the timeline; a channel added later keeps its
# own name in lower case.
CHANNELS = {"VOICE": VOICE, "CHAT": CONNECT_CHAT, "TASK": "task", "EMAIL": "email"}

# The language of an error answer to an event that names no agency.
FALLBACK_LANGUAGE = "es"

# Connect waits at most 8 s for the "Invoke AWS Lambda function" block, and takes the
# block's error branch after that. Outbound requests (Connect, SMS, WhatsApp) must end
# early enough to leave time to record them and to return the answer. The two
# reserves are estimates: a healthy DynamoDB write takes milliseconds.
CONNECT_WAIT_SECONDS = 8.0
RECORD_RESERVE_SECONDS = 1.0
ANSWER_RESERVE_SECONDS = 0.5


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Endpoint(_Tolerant):
    Address: str | None = None
    Type: str | None = None


class QueueInfo(_Tolerant):
    ARN: str | None = None
    Name: str | None = None
    OutboundCallerId: Any = None


class ContactData(_Tolerant):
    ContactId: str = Field(min_length=1, max_length=256)
    InitialContactId: str | None = Field(default=None, max_length=256)
    PreviousContactId: str | None = Field(default=None, max_length=256)
    Channel: str | None = None
    InstanceARN: str = Field(min_length=1)
    InitiationMethod: str | None = None
    CustomerEndpoint: Endpoint | None = None
    SystemEndpoint: Endpoint | None = None
    Queue: QueueInfo | None = None
    Attributes: dict[str, Any] | None = None
    LanguageCode: str | None = None


class Details(_Tolerant):
    ContactData: ContactData
    Parameters: dict[str, Any] | None = None

    @field_validator("Parameters")
    @classmethod
    def _as_strings(cls, value: dict[str, Any] | None) -> dict[str, str]:
        return {key: "" if item is None else str(item) for key, item in (value or {}).items()}


class ContactFlowEvent(_Tolerant):
    Details: Details


def parse_call(event: Any) -> tuple[calls.Call, str, dict[str, str]]:
    """Return the call, the requested action and the flow's parameters.

    Raises ValidationError for an event that is not a contact flow invocation
    and NotFoundError for an instance no agency owns.
    """
    details = validate(ContactFlowEvent, event).Details
    data = details.ContactData
    agency = agency_for_endpoint("connect", data.InstanceARN)
    parameters = details.Parameters or {}
    action = (parameters.get("action") or "identify").strip().lower()
    queue = data.Queue or QueueInfo()
    call = calls.Call(
        agency=agency,
        call_id=data.InitialContactId or data.ContactId,
        channel=_channel(data.Channel),
        caller=_caller(data.CustomerEndpoint, agency),
        language_hint=_language(data),
        contact_id=data.ContactId,
        instance_arn=data.InstanceARN,
        queue_arn=queue.ARN or None,
        queue_name=queue.Name or None,
    )
    return call, action, parameters


def _channel(channel: str | None) -> str:
    name = channel or "VOICE"
    return CHANNELS.get(name.upper(), name.lower())


def _caller(endpoint: Endpoint | None, agency: AgencyConfig) -> Identity | None:
    """Return the caller id as an unverified phone identity, or None when withheld."""
    if endpoint is None or not endpoint.Address:
        return None
    if (endpoint.Type or "TELEPHONE_NUMBER") != "TELEPHONE_NUMBER":
        return None
    if endpoint.Address.strip().lower() in ANONYMOUS_CALLERS:
        return None
    try:
        return Identity("phone", normalize_phone(endpoint.Address, agency.country), False)
    except (PhoneNumberError, ValueError):
        return None


def _language(data: ContactData) -> str | None:
    """Return the two-letter language of the flow (`es-MX` gives `es`)."""
    code = data.LanguageCode or (data.Attributes or {}).get("language")
    if not isinstance(code, str) or not code:
        return None
    return code.split("-")[0].split("_")[0].lower()


def outbound_seconds(context: Any, on_lambda: bool) -> float:
    """Return the seconds outbound requests may take, counted from the invocation's start.

    On Lambda the function's remaining time caps Connect's 8 s, in case the function
    timeout is the shorter. The test client of Chalice 1.34 gives every context 3 s
    whatever the configured timeout, so off Lambda the context is not read.
    """
    available = CONNECT_WAIT_SECONDS
    if on_lambda and context is not None:
        available = min(available, context.get_remaining_time_in_millis() / 1000)
    return max(0.0, available - RECORD_RESERVE_SECONDS - ANSWER_RESERVE_SECONDS)


def handle(event: Any, context: Any = None) -> dict[str, str]:
    """Run the requested action and return the flat answer; never raises."""
    try:
        on_lambda = get_settings().on_lambda
    except SettingsError:
        # _handle returns the error answer of the invalid configuration, and the context caps time.
        on_lambda = True
    with deadline.limit(outbound_seconds(context, on_lambda)):
        return _handle(event)


def _handle(event: Any) -> dict[str, str]:
    language = FALLBACK_LANGUAGE
    try:
        call, action, parameters = parse_call(event)
        language = call.agency.language_for(call.language_hint)
        logger.append_keys(agency=call.agency.agency_id, channel=call.channel, action=action)
        answer = _run(call, action, parameters, language)
    except VentanillaError as error:
        logger.warning(
            "contact flow rejected", extra={"error_code": error.code, "error": error.message}
        )
        return calls.error_answer(language, error.code)
    except (PynamoDBException, BotoCoreError, ClientError):
        logger.exception("contact flow failed")
        return calls.error_answer(language, "unavailable")
    except Exception:  # noqa: BLE001 - the Lambda boundary: a raise leaves the flow nothing to say
        logger.exception("contact flow failed unexpectedly")
        return calls.error_answer(language, "internal_error")
    logger.info("contact flow answered", extra={"result": answer["result"]})
    return answer


def _run(call: calls.Call, action: str, parameters: dict[str, str], language: str) -> dict:
    if action == "identify":
        return calls.identify(call)
    if action == "case_status":
        return calls.case_status(call, parameters.get("case_reference"))
    if action in appointment_phone.ACTIONS:
        return appointment_phone.answer(call, action, parameters)
    if action == "request_callback":
        return callbacks.request_callback(call, parameters.get("case_reference"))
    if action == "send_link":
        channel = (parameters.get("channel") or "").strip().lower() or None
        return call_links.send_link(call, channel, parameters.get("case_reference"))
    logger.warning("contact flow action unknown")
    return calls.error_answer(language, "unknown_action")
