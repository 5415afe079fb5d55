"""Runtime configuration, read once from environment variables."""

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Event-source names are read when app.py's decorators run, before any settings
# object exists, so they are module constants with the same environment names.
INBOUND_SMS_TOPIC = os.environ.get("VENTANILLA_INBOUND_SMS_TOPIC", "ventanilla-local-inbound-sms")


class Settings(BaseModel):
    """Configuration of one deployment stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(min_length=1)
    table_name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    inbound_sms_topic: str = Field(min_length=1)
    # Days a dedupe marker is kept. Meta retries webhooks for up to 7 days and
    # SNS and Lambda retry for hours, so 14 days covers every redelivery.
    dedupe_ttl_days: int = Field(default=14, ge=1, le=365)
    # Days an idle chat session stays usable.
    chat_session_ttl_days: int = Field(default=7, ge=1, le=90)
    # Seconds an agency's configuration stays cached in one Lambda container.
    agency_cache_seconds: int = Field(default=300, ge=0, le=86400)


ENVIRONMENT_NAMES = {
    "stage": "VENTANILLA_STAGE",
    "table_name": "VENTANILLA_TABLE",
    "region": "AWS_DEFAULT_REGION",
    "inbound_sms_topic": "VENTANILLA_INBOUND_SMS_TOPIC",
    "dedupe_ttl_days": "VENTANILLA_DEDUPE_TTL_DAYS",
    "chat_session_ttl_days": "VENTANILLA_CHAT_SESSION_TTL_DAYS",
    "agency_cache_seconds": "VENTANILLA_AGENCY_CACHE_SECONDS",
}

DEFAULTS = {
    "stage": "local",
    "table_name": "ventanilla-local",
    "region": "us-east-1",
    "inbound_sms_topic": INBOUND_SMS_TOPIC,
}


class SettingsError(RuntimeError):
    """Raised at cold start when an environment variable holds an invalid value."""


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from environment variables, falling back to local defaults."""
    environ = os.environ if environ is None else environ
    values = dict(DEFAULTS)
    for field, name in ENVIRONMENT_NAMES.items():
        if environ.get(name):
            values[field] = environ[name]
    if environ.get("AWS_REGION") and not environ.get("AWS_DEFAULT_REGION"):
        values["region"] = environ["AWS_REGION"]
    try:
        return Settings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{ENVIRONMENT_NAMES[str(item['loc'][0])]}: {item['msg']}" for item in error.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from error


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings of this process, loaded on first use."""
    return load_settings()
