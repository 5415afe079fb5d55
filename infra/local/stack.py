"""Ventanilla on one machine: moto, the Chalice app, SNS delivery and the Lambda Invoke API.

The order of `serve` matters. The environment is set before the app is imported,
because PynamoDB reads its table name when a model class is created and Chalice reads
topic names when its decorators run. Every port is bound before any server starts, so
a port in use fails at once.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import requests
from chalice import Chalice
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from infra.local.config import (
    APP_PORT,
    DEAD_LETTER_QUEUE,
    FAKE_CREDENTIALS,
    INBOUND_SMS_TOPIC,
    LAMBDA_PORT,
    MOTO_PORT,
    REGION,
    STAGE,
    TABLE_NAME,
    LocalConfig,
    LocalConfigError,
    load_config,
)
from infra.local.console import banner, configure_logging
from infra.local.functions import AsyncInvoker, FailureDestination, FunctionRegistry
from infra.local.lambda_api import LambdaService
from infra.local.outbox import GRAPH_PATH, Outbox, OutboxMiddleware
from infra.local.queues import start_queue_pollers
from infra.local.servers import (
    PortUnavailableError,
    SerializedApp,
    ServerThread,
    bind,
    chalice_server,
    wsgi_server,
)
from infra.local.sns import Subscription, deliver_attributes_over_http, subscribe_handlers
from infra.resources import create_resources as create_template_resources

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Variables that would send the SDKs elsewhere than moto, or to a developer's profile.
_FOREIGN_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)

# Lifetime of the agent token printed at startup: one working day.
DEVELOPMENT_TOKEN_TTL_SECONDS = 12 * 3600


def main() -> int:
    """Run the stack until SIGINT or SIGTERM; return the process exit code."""
    configure_logging()
    try:
        config = load_config()
    except LocalConfigError as error:
        logger.error("invalid configuration: %s", error)
        return 2
    prepare_environment(config)
    stopping = _stop_on_signals()
    try:
        with ExitStack() as cleanup:
            serve(config, cleanup, stopping)
            logger.info("stopping")
    except PortUnavailableError as error:
        logger.error("%s", error)
        return 1
    logger.info("stopped")
    return 0


def prepare_environment(config: LocalConfig) -> None:
    """Point every AWS SDK of this process at the local moto server, with fake credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in _FOREIGN_VARIABLES:
            del os.environ[name]
    os.environ.update(
        {
            "TZ": "UTC",
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # botocore, and so boto3 and PynamoDB, send every service here.
            "AWS_ENDPOINT_URL": config.moto_url,
            # moto's Step Functions interpreter sends a workflow's SQS, SNS and DynamoDB
            # steps to localhost on this port (moto 5.2.5), not to AWS_ENDPOINT_URL.
            "MOTO_PORT": str(config.moto_port),
            # WhatsApp Cloud API and Messenger sends land in the outbox, never at Meta.
            "VENTANILLA_META_GRAPH_URL": f"{config.moto_url}{GRAPH_PATH}",
            # A developer's ~/.aws files must not add profiles, endpoints or credentials.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "VENTANILLA_STAGE": STAGE,
            "VENTANILLA_TABLE": TABLE_NAME,
            "VENTANILLA_INBOUND_SMS_TOPIC": INBOUND_SMS_TOPIC,
            "POWERTOOLS_SERVICE_NAME": "ventanilla",
        }
    )
    # moto's SNS posts to 127.0.0.1 with requests, which would follow a configured proxy.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), "127.0.0.1", "localhost"]))
    time.tzset()


def _stop_on_signals() -> threading.Event:
    """Return an event that SIGINT or SIGTERM sets; a second Ctrl-C interrupts at once."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stopping.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stopping


def serve(config: LocalConfig, cleanup: ExitStack, stopping: threading.Event) -> None:
    """Start every part of the stack, register its stop on `cleanup`, and wait for `stopping`."""
    app, chalice_config = load_app()
    # Imported after the app for the same reason: PynamoDB models read the environment.
    from infra.local.seed import DEMO_AGENCY, seed_all, seed_secrets

    moto_listener = bind(MOTO_PORT, config.moto_port)
    cleanup.callback(moto_listener.close)
    lambda_listener = bind(LAMBDA_PORT, config.lambda_port)
    cleanup.callback(lambda_listener.close)
    app_server = chalice_server(app, chalice_config, APP_PORT, config.app_port)
    cleanup.callback(app_server.server_close)

    outbox = Outbox(config.outbox_path)
    deliver_attributes_over_http()
    moto_backend = SerializedApp(DomainDispatcherApplication(create_backend_app))
    moto_app = OutboxMiddleware(moto_backend, outbox)
    _start(cleanup, ServerThread("moto", wsgi_server(moto_listener, moto_app)))
    resources = create_resources(config)
    seed_all()
    seed_secrets(boto3.client("ssm", region_name=REGION), STAGE)
    logger.info("created %d resources and seeded the demo agencies", len(resources))
    agent_token = _development_token(config, DEMO_AGENCY)
    registry = FunctionRegistry(app, chalice_config)
    subscriptions = _start_lambda_service(config, cleanup, lambda_listener, registry, resources)
    _start(cleanup, ServerThread("app", app_server))

    lines = [f"{item.topic_arn} -> {item.function_name}" for item in subscriptions.values()]
    text = banner(config, registry.names, lines, DEMO_AGENCY, resources[INBOUND_SMS_TOPIC])
    print(text, flush=True)
    hours = DEVELOPMENT_TOKEN_TTL_SECONDS // 3600
    print(f"\nAgent API token of an agent of the demo agency, valid {hours} h:", flush=True)
    print(f"  Authorization: Bearer {agent_token}", flush=True)
    while not stopping.wait(0.5):
        pass


def _development_token(config: LocalConfig, agency: dict) -> str:
    """Publish the development signing key to moto's SSM and mint a demo agent's token."""
    # Imported after the app, as the seed is: chalicelib reads the environment at import.
    from infra.local.dev_keys import ensure_development_key, mint_token

    ssm = boto3.client("ssm", region_name=REGION)
    private_key = ensure_development_key(ssm, STAGE, config.local_dir)
    return mint_token(
        private_key,
        sub="local-agent",
        name="Agente Local",
        roles=["agent"],
        agency_id=agency["agency_id"],
        ttl_seconds=DEVELOPMENT_TOKEN_TTL_SECONDS,
    )


def _start_lambda_service(
    config: LocalConfig,
    cleanup: ExitStack,
    listener: socket.socket,
    registry: FunctionRegistry,
    resources: dict[str, str],
) -> dict[str, Subscription]:
    """Serve the Invoke API and SNS delivery, then subscribe the app's SNS handlers."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    failures = FailureDestination(resources[DEAD_LETTER_QUEUE], sqs.send_message)
    invoker = AsyncInvoker(registry, failures)
    # Registered before the server, so the server stops first and submits nothing more.
    cleanup.callback(invoker.stop)
    subscriptions: dict[str, Subscription] = {}
    service = LambdaService(registry, invoker, subscriptions, sns.confirm_subscription)
    _start(cleanup, ServerThread("Lambda", wsgi_server(listener, service)))
    subscriptions.update(subscribe_handlers(registry.app, sns, resources, config.lambda_url))
    for poller in start_queue_pollers(registry, sqs):
        cleanup.callback(poller.stop)
    return subscriptions


def load_app() -> tuple[Chalice, Config]:
    """Import app.py with the environment `chalice local` would give it."""
    chalice_config = _chalice_config()
    for name, value in chalice_config.environment_variables.items():
        os.environ.setdefault(name, value)
    import app as app_module  # Only now: the app reads the environment at import.

    validate_routes(app_module.app.routes)
    return app_module.app, chalice_config


def _chalice_config() -> Config:
    path = PROJECT_DIR / ".chalice" / "config.json"
    if path.exists():
        from_disk = json.loads(path.read_text(encoding="utf-8"))
    else:
        from_disk = {"version": "2.0", "app_name": "ventanilla"}
    return Config(
        chalice_stage=STAGE,
        config_from_disk=from_disk,
        default_params={"project_dir": str(PROJECT_DIR)},
    )


def create_resources(config: LocalConfig) -> dict[str, str]:
    """Turn on state machine execution in moto and create the template's resources."""
    response = requests.post(
        f"{config.moto_url}/moto-api/config",
        json={"stepfunctions": {"execute_state_machine": True}},
        timeout=10,
    )
    response.raise_for_status()
    return create_template_resources(boto3.session.Session(region_name=REGION), STAGE)


def _start(cleanup: ExitStack, server: ServerThread) -> None:
    server.start()
    cleanup.callback(server.stop)
