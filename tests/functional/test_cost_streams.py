"""AWS requests per contact event, contact record and phone report read, counted exactly.

The scenarios are in tests/support_streams.py, which benchmarks/aws_calls.py prints
as rows of docs/benchmarks.md. Every one runs warm: the handler's agency cache is full.
"""

import pytest

from tests import support_streams as streams
from tests.support_calls import describe_operations, stub_send_text_message


@pytest.fixture
def stubbed_sms(client):
    return stub_send_text_message()


@pytest.mark.parametrize(
    ("scenario", "operations", "items_written"),
    [
        (streams.event_of_recorded_call, "GetItem, GetItem, UpdateItem", 1),
        (streams.repeated_event, "GetItem, GetItem", 0),
        (streams.event_before_identify, "GetItem, Query, TransactWriteItems", 2),
        (streams.first_record, "GetItem, GetItem, GetItem, UpdateItem, TransactWriteItems", 3),
        (streams.resent_record, "GetItem, GetItem, GetItem, UpdateItem, TransactWriteItems", 3),
        (streams.older_record, "GetItem", 0),
        (streams.ivr_choice, "TransactWriteItems", 2),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_cost_stream_scenario(
    client, demo_agency, stubbed_sms, scenario, operations, items_written
):
    log = scenario(client, demo_agency)

    assert describe_operations(log) == operations
    assert log.items_written == items_written
    assert log.other_calls == []
    assert log.attempt_count() == log.call_count()


def test_cost_phone_report_one_query(client, demo_agency, agent_tokens):
    headers = agent_tokens.headers(roles=("supervisor",))

    log = streams.phone_report(client, demo_agency, headers)

    assert describe_operations(log) == "Query"
