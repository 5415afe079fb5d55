"""AWS clients, created on first use so that moto and botocore's Stubber can stand in."""

from functools import cache
from typing import Any

import boto3

from chalicelib.settings import get_settings


@cache
def client(service: str) -> Any:
    """Return the shared client of one AWS service for this container."""
    return boto3.session.Session().client(service, region_name=get_settings().region)


def reset_clients() -> None:
    """Forget every client, so the next call builds them anew (tests)."""
    client.cache_clear()
