"""AWS clients, created on first use so that moto and botocore's Stubber can stand in."""

import threading
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

# Services called while a caller waits: End User Messaging SMS and Social sends,
# Connect's StartTaskContact from a contact flow, and the SSM reads of access tokens.
# botocore's defaults (60 s to connect, 60 s to read, then retries) would outlast a
# contact flow's 8 s, so these clients wait little and make one attempt. A send is not
# retried anyway, because a read timeout can follow a send that went through.
BOUNDED_SERVICES = frozenset({"pinpoint-sms-voice-v2", "socialmessaging", "connect", "ssm"})
CONNECT_TIMEOUT_SECONDS = 1

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """Return the shared client of one AWS service for this container.

    Webhook items send from several threads. botocore clients are thread-safe, and the
    lock keeps two threads from building two, so every thread uses one client and the
    event handlers registered on it.
    """
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            config = _bounded_config() if service in BOUNDED_SERVICES else None
            session = boto3.session.Session()
            _clients[service] = session.client(
                service, region_name=get_settings().region, config=config
            )
        return _clients[service]


def _bounded_config() -> Config:
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=get_settings().send_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


def bounded_request_seconds() -> float:
    """Return the maximum seconds one request of a bounded service takes: connect plus read."""
    return CONNECT_TIMEOUT_SECONDS + get_settings().send_timeout_seconds


def reset_clients() -> None:
    """Forget every client, so the next call builds them anew (tests)."""
    with _lock:
        _clients.clear()
