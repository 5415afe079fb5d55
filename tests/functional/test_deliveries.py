"""Delivery statuses: WhatsApp statuses and Messenger receipts update the outbound contact."""

import json
from datetime import UTC, datetime

import pytest

from tests import support
from tests import support_webhooks as hooks

WAMID = "wamid.HBgNNTIxNTU0MTYzNzE0NRUCABEYEjk0RkI1QTYxMjM0QjU2QzdEOAA="
FAILED_WAMID = "wamid.HBgNNTIxNTU0MTYzNzE0NRUCABEYEjM3QTJCMUMwRDlFOEY3QTZCNQA="
MESSENGER_MID = "m_Qx7Vw3kR9tYb2LpN007cF5hJ8sD1gZ4aE6uI0oK3mB7nV9xC2qW5eR8tY1uI4oP7"
PSID = "7391058246613025"
CITIZEN = "c0ffee00c0ffee00c0ffee00c0ffee00"


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


def post_statuses(client, demo_agency, statuses):
    """Deliver the sample status change with its statuses replaced, signed."""
    payload = json.loads(hooks.raw_event("whatsapp_statuses"))
    payload["entry"][0]["changes"][0]["value"]["statuses"] = statuses
    raw = hooks.signed_json(payload)
    response = hooks.post_signed(
        client, hooks.WHATSAPP_PATH, raw, demo_agency["whatsapp_app_secret"]
    )
    assert response.status_code == 200, response.body
    return response


def sample_statuses():
    payload = json.loads(hooks.raw_event("whatsapp_statuses"))
    return payload["entry"][0]["changes"][0]["value"]["statuses"]


def stored(keys):
    return support.get_item(keys["pk"], keys["sk"])


def test_status_batch_out_of_order_stays_read(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)
    sent, read, delivered, _ = sample_statuses()

    post_statuses(client, demo_agency, [read, delivered, sent])

    contact = stored(keys)
    assert contact["delivery_status"] == "read"
    assert contact["delivery_rank"] == 4
    assert contact["delivery_status_at"] == hooks.epoch_time(1796400009)


def test_status_sample_batch_ends_read(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)

    post_statuses(client, demo_agency, sample_statuses())

    assert stored(keys)["delivery_status"] == "read"


def test_status_in_separate_deliveries_never_goes_back(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)
    sent, read, delivered, _ = sample_statuses()

    for status in (read, delivered, sent, read):
        post_statuses(client, demo_agency, [status])

    assert stored(keys)["delivery_status"] == "read"
    assert stored(keys)["delivery_rank"] == 4


def test_status_failed_records_error_codes(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    failed = sample_statuses()[3]

    post_statuses(client, demo_agency, [failed])

    contact = stored(keys)
    assert contact["delivery_status"] == "failed"
    assert contact["delivery_errors"] == {131026}


def test_status_delivered_after_failed_wins(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    failed = sample_statuses()[3]
    delivered = {**failed, "status": "delivered", "errors": []}

    post_statuses(client, demo_agency, [failed, delivered])

    assert stored(keys)["delivery_status"] == "delivered"


def test_status_delivered_after_failed_clears_errors(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    failed = sample_statuses()[3]
    delivered = {**failed, "status": "delivered", "timestamp": "1796400070"}
    del delivered["errors"]

    post_statuses(client, demo_agency, [failed])
    post_statuses(client, demo_agency, [delivered])

    contact = stored(keys)
    assert contact["delivery_status"] == "delivered"
    assert "delivery_errors" not in contact
    assert "error_code" not in contact


def test_status_batch_failed_then_read_clears_errors(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    failed = sample_statuses()[3]
    read = {**failed, "status": "read", "timestamp": "1796400090"}
    del read["errors"]

    post_statuses(client, demo_agency, [failed, read])

    contact = stored(keys)
    assert contact["delivery_status"] == "read"
    assert "delivery_errors" not in contact


def test_status_failed_after_read_stores_no_errors(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    failed = sample_statuses()[3]
    read = {**failed, "status": "read", "timestamp": "1796400090"}
    del read["errors"]

    post_statuses(client, demo_agency, [read, failed])
    post_statuses(client, demo_agency, [failed])

    contact = stored(keys)
    assert contact["delivery_status"] == "read"
    assert "delivery_errors" not in contact


def test_status_read_clears_error_code_of_contact(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", FAILED_WAMID, CITIZEN)
    support.table().update_item(
        Key=keys,
        UpdateExpression="SET error_code = :code, delivery_errors = :codes",
        ExpressionAttributeValues={":code": "131026", ":codes": {131026}},
    )
    read = {**sample_statuses()[3], "status": "read"}
    del read["errors"]

    post_statuses(client, demo_agency, [read])

    contact = stored(keys)
    assert contact["delivery_status"] == "read"
    assert "error_code" not in contact
    assert "delivery_errors" not in contact


def test_status_of_unknown_message_is_ignored(client, demo_agency):
    before = support.scan_items()

    post_statuses(client, demo_agency, sample_statuses())

    assert support.scan_items() == before


def test_status_unknown_name_is_ignored(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)
    sent = sample_statuses()[0]

    post_statuses(client, demo_agency, [{**sent, "status": "deleted"}])

    assert stored(keys)["delivery_status"] == "sent"
    assert "delivery_rank" not in stored(keys)


def test_status_pointer_without_contact_writes_nothing(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)
    support.table().delete_item(Key=keys)
    before = support.scan_items()

    post_statuses(client, demo_agency, sample_statuses())

    assert support.scan_items() == before


def test_social_status_updates_contact(client):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)

    hooks.invoke(client, "inbound_whatsapp_social", support.load_event("social_whatsapp_status"))

    assert stored(keys)["delivery_status"] == "delivered"


def test_social_status_after_read_stays_read(client, demo_agency):
    keys = hooks.seed_outbound("whatsapp", WAMID, CITIZEN)
    post_statuses(client, demo_agency, [sample_statuses()[1]])

    hooks.invoke(client, "inbound_whatsapp_social", support.load_event("social_whatsapp_status"))

    assert stored(keys)["delivery_status"] == "read"


# Messenger receipts


def messenger_citizen(client, demo_agency):
    """Record a message from the sample PSID and return its citizen id."""
    raw = hooks.raw_event("messenger_text")
    response = hooks.post_signed(
        client, hooks.MESSENGER_PATH, raw, demo_agency["messenger_app_secret"]
    )
    assert response.status_code == 200
    return support.get_item(f"IDENTITY#messenger#{PSID}", "LINK")["citizen_id"]


def test_messenger_delivery_and_read_update_contact(client, demo_agency):
    citizen_id = messenger_citizen(client, demo_agency)
    # Sent just before the sample watermark, 2026-12-04T17:06:00.250Z.
    sent_at = datetime(2026, 12, 4, 17, 6, 0, tzinfo=UTC)
    keys = hooks.seed_outbound("messenger", MESSENGER_MID, citizen_id, sent_at)

    raw = hooks.raw_event("messenger_delivery_read")
    response = hooks.post_signed(
        client, hooks.MESSENGER_PATH, raw, demo_agency["messenger_app_secret"]
    )

    assert response.status_code == 200
    assert stored(keys)["delivery_status"] == "read"


def test_messenger_read_watermark_skips_later_messages(client, demo_agency):
    citizen_id = messenger_citizen(client, demo_agency)
    later = datetime(2026, 12, 4, 17, 10, tzinfo=UTC)
    keys = hooks.seed_outbound("messenger", "m_later", citizen_id, later)
    payload = json.loads(hooks.raw_event("messenger_delivery_read"))
    del payload["entry"][0]["messaging"][0]

    hooks.post_signed(
        client,
        hooks.MESSENGER_PATH,
        hooks.signed_json(payload),
        demo_agency["messenger_app_secret"],
    )

    assert stored(keys)["delivery_status"] == "sent"


def test_messenger_delivery_by_mid_marks_delivered(client, demo_agency):
    keys = hooks.seed_outbound("messenger", MESSENGER_MID, CITIZEN)
    payload = json.loads(hooks.raw_event("messenger_delivery_read"))
    del payload["entry"][0]["messaging"][1]

    hooks.post_signed(
        client,
        hooks.MESSENGER_PATH,
        hooks.signed_json(payload),
        demo_agency["messenger_app_secret"],
    )

    assert stored(keys)["delivery_status"] == "delivered"
    assert stored(keys)["delivery_rank"] == 3
