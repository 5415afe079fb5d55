"""Names, ports and paths of the local stack, shared by the stack, the demo and the tests.

Only the ports and the `.local/` folder are configurable. The stage, table, topic and
queue names are fixed, because the demo and the tests read the same resources that
the stack creates.
"""

import os
from dataclasses import dataclass
from pathlib import Path

STAGE = "local"
REGION = "us-east-1"
# moto's default account: every ARN moto returns carries it.
ACCOUNT_ID = "123456789012"
HOST = "127.0.0.1"

TABLE_NAME = f"ventanilla-{STAGE}"
INBOUND_SMS_TOPIC = f"ventanilla-{STAGE}-inbound-sms"
DEAD_LETTER_QUEUE = f"ventanilla-{STAGE}-dead-letter"

LOCAL_DIR_VARIABLE = "VENTANILLA_LOCAL_DIR"
DEFAULT_LOCAL_DIR = Path(__file__).resolve().parents[2] / ".local"

# Development credentials: moto accepts any, and no real account is ever reached
# because every client's endpoint is the local moto server.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class PortSetting:
    """A port of the stack and the environment variable that moves it."""

    label: str
    variable: str
    default: int


MOTO_PORT = PortSetting("moto", "VENTANILLA_MOTO_PORT", 5000)
APP_PORT = PortSetting("app", "VENTANILLA_APP_PORT", 8000)
LAMBDA_PORT = PortSetting("Lambda Invoke API", "VENTANILLA_LAMBDA_PORT", 8001)
PORT_SETTINGS = (MOTO_PORT, APP_PORT, LAMBDA_PORT)


class LocalConfigError(ValueError):
    """An environment variable of the local stack contains an invalid value."""


@dataclass(frozen=True)
class LocalConfig:
    """Ports and folder of one local stack."""

    moto_port: int
    app_port: int
    lambda_port: int
    local_dir: Path

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    @property
    def app_url(self) -> str:
        return f"http://{HOST}:{self.app_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://{HOST}:{self.lambda_port}"

    @property
    def outbox_path(self) -> Path:
        return self.local_dir / "outbox.jsonl"

    def port_of(self, setting: PortSetting) -> int:
        ports = {MOTO_PORT: self.moto_port, APP_PORT: self.app_port, LAMBDA_PORT: self.lambda_port}
        return ports[setting]


def load_config(environ: dict[str, str] | None = None) -> LocalConfig:
    """Read ports and the local folder from the environment; raises LocalConfigError."""
    environ = os.environ if environ is None else environ
    ports = [_port(setting, environ) for setting in PORT_SETTINGS]
    if len(set(ports)) != len(ports):
        names = ", ".join(
            f"{setting.variable}={port}" for setting, port in zip(PORT_SETTINGS, ports, strict=True)
        )
        raise LocalConfigError(f"ports must differ, got {names}")
    local_dir = Path(environ.get(LOCAL_DIR_VARIABLE) or DEFAULT_LOCAL_DIR)
    return LocalConfig(*ports, local_dir=local_dir)


def _port(setting: PortSetting, environ: dict[str, str]) -> int:
    raw = environ.get(setting.variable)
    if not raw:
        return setting.default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise LocalConfigError(f"{setting.variable}={raw!r} is invalid; expected a port 1-65535")
    return int(raw)


def topic_arn(topic_name: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{topic_name}"


def client_options(config: LocalConfig) -> dict[str, str]:
    """Return the boto3 client arguments that reach the local moto server."""
    return {
        "endpoint_url": config.moto_url,
        "region_name": REGION,
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    }
