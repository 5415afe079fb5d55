"""Runtime configuration, read once from environment variables."""

import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Event-source names are read when app.py's decorators run, before any settings
# object exists, so they are module constants with the same environment names.
INBOUND_SMS_TOPIC = os.environ.get("VENTANILLA_INBOUND_SMS_TOPIC", "ventanilla-local-inbound-sms")
WHATSAPP_SOCIAL_TOPIC = os.environ.get(
    "VENTANILLA_WHATSAPP_SOCIAL_TOPIC", "ventanilla-local-whatsapp-social"
)
INBOUND_EMAIL_TOPIC = os.environ.get(
    "VENTANILLA_INBOUND_EMAIL_TOPIC", "ventanilla-local-inbound-email"
)
WORKFLOW_TASKS_QUEUE = os.environ.get(
    "VENTANILLA_WORKFLOW_TASKS_QUEUE", "ventanilla-local-workflow-tasks"
)
CONTACT_RECORDS_STREAM = os.environ.get(
    "VENTANILLA_CONTACT_RECORDS_STREAM", "ventanilla-local-contact-records"
)
CONNECT_CHAT_STREAM_TOPIC = os.environ.get(
    "VENTANILLA_CONNECT_CHAT_STREAM_TOPIC", "ventanilla-local-connect-chat-stream"
)

# The secrets of the deployment's one Meta app, which serves every agency's WhatsApp
# numbers and Messenger pages. Each settings field maps to the end of its SSM name.
META_SECRETS = {
    "whatsapp_app_secret_parameter": "whatsapp-app-secret",
    "whatsapp_verify_token_parameter": "whatsapp-verify-token",
    "messenger_app_secret_parameter": "messenger-app-secret",
    "messenger_verify_token_parameter": "messenger-verify-token",
}

COGNITO = "cognito"
DEVELOPMENT = "development"
# Stages that must never accept tokens signed by a development key.
PRODUCTION_STAGES = frozenset({"prod"})


def meta_secret_parameter(stage: str, secret: str) -> str:
    """Return the default SSM parameter name of a Meta secret, such as `whatsapp-app-secret`."""
    return f"/ventanilla/{stage}/meta/{secret}"


def development_key_parameter(stage: str) -> str:
    """Return the default SSM parameter name of a stage's development public key."""
    return f"/ventanilla/{stage}/auth/development-public-key"


# Seconds after which API Gateway ends a REST API request with 504: its default
# maximum integration timeout.
API_GATEWAY_TIMEOUT_SECONDS = 29

# The base URL of Meta's Graph API. Only the local stack and tests point elsewhere.
META_GRAPH_URL = "https://graph.facebook.com"


def whatsapp_token_parameter(stage: str) -> str:
    """Return the default SSM parameter name of the WhatsApp Cloud API access token."""
    return f"/ventanilla/{stage}/meta/whatsapp-access-token"


def messenger_token_prefix(stage: str) -> str:
    """Return the default prefix of the Messenger page tokens, each at `<prefix>/<page id>`."""
    return f"/ventanilla/{stage}/meta/messenger-page-token"


def parked_records_queue(stage: str) -> str:
    """Return the default name of the queue of parked contact records."""
    return f"ventanilla-{stage}-parked-contact-records"


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
    # Meta's Graph API, shared by the WhatsApp Cloud API and the Messenger Send API,
    # and its version in request paths. The local stack points the URL at its outbox.
    meta_graph_url: str = Field(default=META_GRAPH_URL, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    meta_graph_version: str = Field(default="v23.0", pattern=r"^v\d+\.\d+$")
    # Seconds one Graph API request may take before the send counts as failed.
    meta_timeout_seconds: float = Field(default=5, gt=0, le=30)
    # SSM SecureString parameters with the WhatsApp Cloud API access token, and the
    # prefix of the Messenger page access tokens: one parameter per page, `<prefix>/<page id>`.
    whatsapp_token_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    messenger_token_parameter_prefix: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    # Seconds a Meta token stays in powertools' cache per container.
    meta_token_cache_seconds: int = Field(default=300, ge=0, le=86400)
    # How the agent API verifies tokens: against a Cognito user pool's public
    # keys, or against a development key (local stack and tests only).
    auth_mode: Literal["cognito", "development"] = DEVELOPMENT
    # A user pool id is `<region>_<suffix>`, such as `us-east-1_AbC123xyz`.
    cognito_user_pool_id: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d_\w+$")
    cognito_app_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_+]{1,128}$")
    # SSM parameter containing the PEM public key of the development signing key.
    development_key_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    # Seconds the development public key stays in powertools' cache per container.
    auth_key_cache_seconds: int = Field(default=300, ge=0, le=86400)
    # Set by the Lambda runtime, so its presence means "running on AWS Lambda".
    lambda_function_name: str | None = None
    # SSM SecureString parameters of the Meta app secrets and webhook verify tokens.
    # The ARN of a workflow's state machine is this prefix followed by the workflow
    # kind, such as `appointment_reminder`. Empty means the stage's machines in the
    # account that runs the code (see `chalicelib.workflows.engine`).
    state_machine_arn_prefix: str = Field(
        default="", pattern=r"^(arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]*)?$"
    )
    # Receives of one workflow task message before it is failed and left to the
    # task dead-letter queue; the queue's redrive policy `maxReceiveCount`.
    workflow_task_max_receives: int = Field(default=3, ge=1, le=1000)
    whatsapp_app_secret_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    whatsapp_verify_token_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    messenger_app_secret_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    messenger_verify_token_parameter: str = Field(default="", pattern=r"^(/[\w.-]+)+$")
    # Days a quarantined email's record (ids and verdicts, no content) is kept.
    quarantine_ttl_days: int = Field(default=30, ge=1, le=365)
    # Threads that record the items of one webhook delivery or Social event at once.
    # botocore keeps at most 10 connections per client by default, so up to 10 threads
    # share the DynamoDB client without waiting for a connection.
    webhook_workers: int = Field(default=8, ge=1, le=64)
    # Seconds after a webhook delivery arrives during which its items are started.
    # API Gateway ends a request after 29 s, so the default leaves 9 s for the items
    # under way. On Lambda the budget is also at most the same share (20/29) of the
    # function's remaining time.
    webhook_budget_seconds: float = Field(default=20, gt=0, lt=API_GATEWAY_TIMEOUT_SECONDS)
    # The SQS queue where contact records that failed are parked for replay.
    parked_records_queue: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    # Seconds one request to End User Messaging SMS or Social, Connect or SSM may wait
    # for its response. Connecting may take 1 s more. A contact flow action makes
    # such a request only while both fit in what is left of its 8 s.
    send_timeout_seconds: float = Field(default=2, gt=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _default_key_parameter(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("development_key_parameter"):
            stage = values.get("stage") or "local"
            values = {**values, "development_key_parameter": development_key_parameter(stage)}
        return values

    @model_validator(mode="before")
    @classmethod
    def _default_meta_parameters(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        stage = values.get("stage") or "local"
        defaults = {
            field: meta_secret_parameter(stage, secret)
            for field, secret in META_SECRETS.items()
            if not values.get(field)
        }
        return {**values, **defaults}

    @model_validator(mode="before")
    @classmethod
    def _default_meta_token_parameters(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        stage = values.get("stage") or "local"
        defaults = {
            "whatsapp_token_parameter": whatsapp_token_parameter(stage),
            "messenger_token_parameter_prefix": messenger_token_prefix(stage),
        }
        return {**values, **{key: value for key, value in defaults.items() if not values.get(key)}}

    @model_validator(mode="before")
    @classmethod
    def _default_parked_records_queue(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("parked_records_queue"):
            stage = values.get("stage") or "local"
            values = {**values, "parked_records_queue": parked_records_queue(stage)}
        return values

    @model_validator(mode="after")
    def _check_auth(self) -> "Settings":
        if self.auth_mode == DEVELOPMENT and self.stage in PRODUCTION_STAGES:
            raise ValueError(
                f"VENTANILLA_AUTH_MODE=development is not allowed on stage {self.stage!r}; "
                "set it to cognito"
            )
        if self.auth_mode == COGNITO and not (
            self.cognito_user_pool_id and self.cognito_app_client_id
        ):
            raise ValueError(
                "VENTANILLA_AUTH_MODE=cognito needs VENTANILLA_COGNITO_USER_POOL_ID and "
                "VENTANILLA_COGNITO_APP_CLIENT_ID"
            )
        return self

    @property
    def on_lambda(self) -> bool:
        return self.lambda_function_name is not None


ENVIRONMENT_NAMES = {
    "stage": "VENTANILLA_STAGE",
    "table_name": "VENTANILLA_TABLE",
    "region": "AWS_DEFAULT_REGION",
    "inbound_sms_topic": "VENTANILLA_INBOUND_SMS_TOPIC",
    "dedupe_ttl_days": "VENTANILLA_DEDUPE_TTL_DAYS",
    "chat_session_ttl_days": "VENTANILLA_CHAT_SESSION_TTL_DAYS",
    "agency_cache_seconds": "VENTANILLA_AGENCY_CACHE_SECONDS",
    "meta_graph_url": "VENTANILLA_META_GRAPH_URL",
    "meta_graph_version": "VENTANILLA_META_GRAPH_VERSION",
    "meta_timeout_seconds": "VENTANILLA_META_TIMEOUT_SECONDS",
    "whatsapp_token_parameter": "VENTANILLA_WHATSAPP_TOKEN_PARAMETER",
    "messenger_token_parameter_prefix": "VENTANILLA_MESSENGER_TOKEN_PARAMETER_PREFIX",
    "meta_token_cache_seconds": "VENTANILLA_META_TOKEN_CACHE_SECONDS",
    "auth_mode": "VENTANILLA_AUTH_MODE",
    "cognito_user_pool_id": "VENTANILLA_COGNITO_USER_POOL_ID",
    "cognito_app_client_id": "VENTANILLA_COGNITO_APP_CLIENT_ID",
    "development_key_parameter": "VENTANILLA_DEV_JWT_PUBLIC_KEY_PARAMETER",
    "auth_key_cache_seconds": "VENTANILLA_AUTH_KEY_CACHE_SECONDS",
    "lambda_function_name": "AWS_LAMBDA_FUNCTION_NAME",
    "whatsapp_app_secret_parameter": "VENTANILLA_WHATSAPP_APP_SECRET_PARAMETER",
    "whatsapp_verify_token_parameter": "VENTANILLA_WHATSAPP_VERIFY_TOKEN_PARAMETER",
    "messenger_app_secret_parameter": "VENTANILLA_MESSENGER_APP_SECRET_PARAMETER",
    "messenger_verify_token_parameter": "VENTANILLA_MESSENGER_VERIFY_TOKEN_PARAMETER",
    "quarantine_ttl_days": "VENTANILLA_QUARANTINE_TTL_DAYS",
    "state_machine_arn_prefix": "VENTANILLA_STATE_MACHINE_ARN_PREFIX",
    "workflow_task_max_receives": "VENTANILLA_WORKFLOW_TASK_MAX_RECEIVES",
    "webhook_workers": "VENTANILLA_WEBHOOK_WORKERS",
    "webhook_budget_seconds": "VENTANILLA_WEBHOOK_BUDGET_SECONDS",
    "parked_records_queue": "VENTANILLA_PARKED_RECORDS_QUEUE",
    "send_timeout_seconds": "VENTANILLA_SEND_TIMEOUT_SECONDS",
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
        problems = "; ".join(_problem(item) for item in error.errors())
        raise SettingsError(f"invalid configuration: {problems}") from error


def _problem(item: dict) -> str:
    """Describe one validation failure by the environment variable at fault."""
    if not item["loc"]:
        # A check across fields, whose message names the variables itself.
        return str(item["msg"]).removeprefix("Value error, ")
    return f"{ENVIRONMENT_NAMES[str(item['loc'][0])]}: {item['msg']}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings of this process, loaded on first use."""
    return load_settings()
