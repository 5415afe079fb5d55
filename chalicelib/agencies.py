"""Agencies and the endpoints that route a contact to one of them."""

import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import NotFoundError
from chalicelib.settings import get_settings
from chalicelib.store.models import Agency, AgencyEndpoint, agency_key, endpoint_key

# Two hours after the resolution, and three days to answer.
DEFAULT_SURVEY_DELAY_SECONDS = 2 * 3600
DEFAULT_SURVEY_ANSWER_SECONDS = 72 * 3600


@dataclass(frozen=True)
class AgencyConfig:
    """The settings of one agency that handlers need."""

    agency_id: str
    name: str
    country: str
    timezone: str
    default_language: str
    languages: frozenset[str]
    active_case_days: int
    chat_enabled: bool
    # The number that two-way SMS replies are sent from, in E.164.
    sms_number: str | None = None
    # Meta's id of the agency's WhatsApp business number, the number in E.164, and
    # the WhatsApp Business Account that owns it.
    whatsapp_phone_number_id: str | None = None
    whatsapp_display_number: str | None = None
    whatsapp_waba_id: str | None = None
    # The number's ARN in AWS End User Messaging Social when it is linked there instead
    # of sending through Meta's Cloud API.
    whatsapp_social_phone_number_arn: str | None = None
    messenger_page_id: str | None = None
    email_address: str | None = None
    # How citizens can reach the agency, sent in reply to HELP or AYUDA.
    contact_options: str | None = None
    # Approved WhatsApp templates: purpose → language → {"name", "language", "parameters"}.
    whatsapp_templates: dict = field(default_factory=dict)
    # Services, offices and reminder settings; chalicelib/appointments/settings.py reads them.
    appointments: dict = field(default_factory=dict)
    # Opening hours and closed days beside `timezone` and `country`, and the case types
    # with their deadlines, both as stored (see store.models.Agency).
    calendar: dict = field(default_factory=dict)
    case_types: dict = field(default_factory=dict)
    # Satisfaction surveys after a resolution: on or off, the seconds before the question
    # is sent (then moved out of quiet hours) and the seconds the citizen has to answer.
    surveys_enabled: bool = True
    survey_delay_seconds: int = DEFAULT_SURVEY_DELAY_SECONDS
    survey_answer_seconds: int = DEFAULT_SURVEY_ANSWER_SECONDS
    # The web chat page that send_link sends, and the Connect flow that queues callbacks.
    chat_url: str | None = None
    connect_callback_flow_id: str | None = None

    def language_for(self, requested: str | None) -> str:
        """Return the requested language if the agency serves it, else its default."""
        if requested and requested in self.languages:
            return requested
        return self.default_language


# Per-container caches: agency settings change rarely, and each lookup saved is
# a DynamoDB read on the hot path.
_agencies: dict[str, tuple[float, AgencyConfig]] = {}
_endpoints: dict[tuple[str, str], tuple[float, str]] = {}


def clear_cache() -> None:
    """Forget cached agencies and endpoints (tests and settings changes)."""
    _agencies.clear()
    _endpoints.clear()


def _fresh(cached_at: float) -> bool:
    return time.monotonic() - cached_at < get_settings().agency_cache_seconds


def get_agency(agency_id: str) -> AgencyConfig:
    """Return an agency's settings; raises NotFoundError for an unknown agency."""
    cached = _agencies.get(agency_id)
    if cached and _fresh(cached[0]):
        return cached[1]
    try:
        item = Agency.get(agency_key(agency_id), "CONFIG")
    except Agency.DoesNotExist as error:
        raise NotFoundError(f"agency {agency_id!r} not found", field="agency_id") from error
    config = AgencyConfig(
        agency_id=item.agency_id,
        name=item.name,
        country=item.country,
        timezone=item.timezone,
        default_language=item.default_language,
        languages=frozenset(item.languages or {item.default_language}),
        active_case_days=int(item.active_case_days),
        chat_enabled=bool(item.chat_enabled),
        contact_options=item.contact_options,
        whatsapp_templates=_as_dict(item.whatsapp_templates),
        sms_number=item.sms_number,
        whatsapp_phone_number_id=item.whatsapp_phone_number_id,
        whatsapp_display_number=item.whatsapp_display_number,
        whatsapp_waba_id=item.whatsapp_waba_id,
        whatsapp_social_phone_number_arn=item.whatsapp_social_phone_number_arn,
        messenger_page_id=item.messenger_page_id,
        email_address=item.email_address,
        appointments=_as_dict(item.appointments),
        calendar=_as_dict(item.calendar),
        case_types=_as_dict(item.case_types),
        surveys_enabled=item.surveys_enabled is not False,
        survey_delay_seconds=_seconds(item.survey_delay_seconds, DEFAULT_SURVEY_DELAY_SECONDS),
        survey_answer_seconds=_seconds(item.survey_answer_seconds, DEFAULT_SURVEY_ANSWER_SECONDS),
        chat_url=item.chat_url,
        connect_callback_flow_id=item.connect_callback_flow_id,
    )
    _agencies[agency_id] = (time.monotonic(), config)
    return config


def _seconds(value: Any, default: int) -> int:
    return default if value is None else int(value)


def _as_dict(value: Any) -> dict:
    """Return a raw MapAttribute's value as plain dicts, or {} when it is not set."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def agency_for_endpoint(kind: str, value: str) -> AgencyConfig:
    """Return the agency that owns an endpoint; raises NotFoundError when none does."""
    cached = _endpoints.get((kind, value))
    if cached and _fresh(cached[0]):
        return get_agency(cached[1])
    try:
        item = AgencyEndpoint.get(endpoint_key(kind, value), "AGENCY")
    except AgencyEndpoint.DoesNotExist as error:
        raise NotFoundError(f"no agency owns this {kind} endpoint", field=kind) from error
    _endpoints[(kind, value)] = (time.monotonic(), item.agency_id)
    return get_agency(item.agency_id)
