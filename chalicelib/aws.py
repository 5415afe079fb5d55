"""AWS clients, created on first use so that moto and botocore's Stubber can stand in."""

import threading
from typing import Any

import boto3

from chalicelib.settings import get_settings

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
            session = boto3.session.Session()
            _clients[service] = session.client(service, region_name=get_settings().region)
        return _clients[service]


def reset_clients() -> None:
    """Forget every client, so the next call builds them anew (tests)."""
    with _lock:
        _clients.clear()
