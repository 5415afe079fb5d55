"""Messages of one citizen that arrive at the same moment join one case.

Each test starts its threads at a barrier, so their first reads overlap before
any of them writes. moto handles one request at a time, as DynamoDB applies each
request atomically, and the requests of different threads interleave.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from chalice.test import Client, LambdaContext

from tests import support

THREADS = 4
CITIZEN_PHONE = "+525541637145"


@pytest.fixture
def outbox(aws):
    return support.SmsOutbox.attach()


def run_together(task, count=THREADS):
    """Run `task(index)` on `count` threads released together; return their errors."""
    start = threading.Barrier(count)

    def released(index):
        start.wait()
        return task(index)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(released, index) for index in range(count)]
        return [future.exception() for future in futures]


def test_chat_messages_at_once_open_one_case(client: Client, monkeypatch):
    from chalicelib.agencies import get_agency
    from chalicelib.journey import chat_sessions

    session = support.open_chat(client)
    # Every thread holds the session as read before any of them writes, which
    # is what concurrent HTTP requests do; the test client runs them one by one.
    stored = chat_sessions.authenticate(session.session_id, session.token)
    agency = get_agency("demo")
    support.serialize_moto_requests(monkeypatch)

    def post(index):
        chat_sessions.post_message(agency, stored, f"Mensaje {index}", f"key-{index}")

    errors = run_together(post)

    assert errors == [None] * THREADS
    assert len(support.items_of_kind("CASE#", "CASE")) == 1
    notices = [item for item in support.contacts("outbound") if item["kind"] == "notice"]
    assert len(notices) == 1


def test_sms_at_once_after_stale_case_open_one_case(client: Client, outbox, monkeypatch):
    from app import app

    support.invoke_sms(client, support.sms_event("sms_first_message"))
    support.age_open_case(CITIZEN_PHONE, "demo", days=30)
    support.serialize_moto_requests(monkeypatch)
    handler = app.handler_map["inbound_sms"]
    sent_before = len(outbox.sent)

    def deliver(index):
        event = support.sms_event("sms_first_message", inboundMessageId=f"race-{index}")
        return handler(event, LambdaContext("inbound_sms", memory_size=512))

    errors = run_together(deliver)

    assert errors == [None] * THREADS
    assert len(support.items_of_kind("CASE#", "CASE")) == 2
    assert len(outbox.sent) == sent_before + 1


def test_stops_at_once_confirmed_once(client: Client, outbox, monkeypatch):
    from app import app

    support.invoke_sms(client, support.sms_event("sms_first_message"))
    support.serialize_moto_requests(monkeypatch)
    handler = app.handler_map["inbound_sms"]
    sent_before = len(outbox.sent)

    def deliver(index):
        event = support.sms_event(
            "sms_first_message", messageBody="STOP", inboundMessageId=f"stop-{index}"
        )
        return handler(event, LambdaContext("inbound_sms", memory_size=512))

    errors = run_together(deliver)

    assert errors == [None] * THREADS
    assert len(outbox.sent) == sent_before + 1
    keywords = [item for item in support.contacts("inbound") if item["kind"] == "consent"]
    assert sorted(item["consent_changed"] for item in keywords) == [False] * 3 + [True]
