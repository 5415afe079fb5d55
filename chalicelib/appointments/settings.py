"""An agency's appointment settings, read from the `appointments` map of its configuration.

The map looks like this (every key but `services` and `offices` is optional):

    {"services": {"licencias": {"es": "Licencia de conducir", "en": "Driver's license"}},
     "offices": {"centro": {"name": "Oficina Centro", "address": "Av. Juárez 1"}},
     "reminder_hours_before": 24, "answer_wait_hours": 4,
     "calendar": {"quiet_hours": ["21:00", "08:00"]}}

`calendar` is a business calendar (`BusinessCalendar.from_dict` in
chalicelib/workflows/calendar.py) whose quiet hours no reminder is sent in, 21:00 to
08:00 by default; the agency's time zone and country are added to it.
"""

from dataclasses import dataclass, field
from typing import Any

from chalicelib.agencies import AgencyConfig
from chalicelib.errors import NotFoundError, ValidationError

DEFAULT_REMINDER_HOURS_BEFORE = 24.0
DEFAULT_ANSWER_WAIT_HOURS = 4.0
# Step Functions task timeouts are whole seconds, at least 1.
MIN_ANSWER_WAIT_SECONDS = 1


@dataclass(frozen=True)
class AppointmentSettings:
    """An agency's services and offices, and the timing of its reminders."""

    # Service id → language → the name shown to citizens.
    services: dict[str, dict[str, str]]
    # Office id → {"name": ..., "address": ...}.
    offices: dict[str, dict[str, str]]
    reminder_hours_before: float = DEFAULT_REMINDER_HOURS_BEFORE
    answer_wait_hours: float = DEFAULT_ANSWER_WAIT_HOURS
    calendar: dict[str, Any] = field(default_factory=dict)

    @property
    def answer_wait_seconds(self) -> int:
        return max(MIN_ANSWER_WAIT_SECONDS, int(self.answer_wait_hours * 3600))

    def service_name(self, service: str, language: str) -> str:
        names = self.services.get(service) or {}
        return names.get(language) or names.get("es") or next(iter(names.values()), service)

    def office_name(self, office: str) -> str:
        return (self.offices.get(office) or {}).get("name") or office

    def check(self, service: str, office: str | None) -> None:
        """Raise ValidationError unless the service, and the office when given, are offered."""
        if service not in self.services:
            offered = ", ".join(sorted(self.services))
            raise ValidationError(
                f"service: {service!r} is not offered; expected one of {offered}", field="service"
            )
        if office is not None and office not in self.offices:
            offered = ", ".join(sorted(self.offices))
            raise ValidationError(
                f"office: {office!r} is not an office; expected one of {offered}", field="office"
            )


def settings_of(agency: AgencyConfig) -> AppointmentSettings:
    """Return the agency's appointment settings; raises NotFoundError if it offers none."""
    config = agency.appointments or {}
    services = config.get("services") or {}
    if not services:
        raise NotFoundError(
            f"agency {agency.agency_id!r} offers no appointments", field="agency_id"
        )
    return AppointmentSettings(
        services={key: dict(value) for key, value in services.items()},
        offices={key: dict(value) for key, value in (config.get("offices") or {}).items()},
        reminder_hours_before=float(
            config.get("reminder_hours_before", DEFAULT_REMINDER_HOURS_BEFORE)
        ),
        answer_wait_hours=float(config.get("answer_wait_hours", DEFAULT_ANSWER_WAIT_HOURS)),
        calendar={
            **(config.get("calendar") or {}),
            "timezone": agency.timezone,
            "country": agency.country,
        },
    )
