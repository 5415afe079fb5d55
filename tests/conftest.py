"""Fixtures that drive the whole product over moto, in process.

Environment variables are set before anything imports the app, because
PynamoDB reads its table name when a model class is created and Chalice reads
event-source names when its decorators run.
"""

from tests.environment import apply_test_environment

apply_test_environment()

import time

import boto3
import pytest
from moto import mock_aws

pytest_plugins = ["tests.fixtures_agents"]

time.tzset()

STAGE = "test"


def _reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from chalicelib import agencies, aws
    from chalicelib.store import models, transactions

    parameters.clear_caches()
    agencies.clear_cache()
    aws.reset_clients()
    transactions.reset_connection()
    for model in models.ENTITIES:
        model._connection = None


@pytest.fixture
def aws(monkeypatch):
    """moto with every resource of infra/ created and the demo agencies seeded.

    moto handles one request at a time, because webhook deliveries record their items
    on several threads and moto in process is not thread-safe. It copies a table once
    per transaction (`copy_tables_once_per_transaction`).
    """
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from infra.local.seed import seed_all, seed_secrets
        from infra.resources import create_resources
        from tests.support import copy_tables_once_per_transaction, serialize_moto_requests

        serialize_moto_requests(monkeypatch)
        copy_tables_once_per_transaction(monkeypatch)
        _reset_caches()
        resources = create_resources(boto3.session.Session(region_name="us-east-1"), STAGE)
        seed_all()
        seed_secrets(boto3.client("ssm", region_name="us-east-1"), STAGE)
        yield resources
        _reset_caches()


@pytest.fixture
def client(aws):
    """A Chalice test client over the app, on top of `aws`."""
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def demo_agency():
    from infra.local.seed import DEMO_AGENCY

    return dict(DEMO_AGENCY)


@pytest.fixture
def other_agency():
    from infra.local.seed import OTHER_AGENCY

    return dict(OTHER_AGENCY)
