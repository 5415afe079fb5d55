"""Messenger: webhooks of the demo agency's page on /webhooks/messenger."""

import json

import pytest

from tests import support
from tests import support_webhooks as hooks

PATH = hooks.MESSENGER_PATH
PSID = "7391058246613025"


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


@pytest.fixture
def secret(demo_agency):
    return demo_agency["messenger_app_secret"]


def deliver(client, secret, name):
    response = hooks.post_signed(client, PATH, hooks.raw_event(name), secret)
    assert response.status_code == 200, response.body
    return response


def only(items):
    assert len(items) == 1, items
    return items[0]


def test_messenger_text_is_recorded(client, secret):
    response = deliver(client, secret, "messenger_text")

    contact = only(support.contacts("inbound", "messenger"))
    assert response.json_body == {"status": "received"}
    assert contact["body"] == "Hola, ¿cómo reporto un bache?"
    assert contact["agency_id"] == "demo"
    assert contact["occurred_at"] == "2026-12-04T17:00:00.000Z"


def test_messenger_text_links_psid(client, secret):
    deliver(client, secret, "messenger_text")

    link = support.get_item(f"IDENTITY#messenger#{PSID}", "LINK")
    assert link["verified"] is True
    assert link["citizen_id"] == only(support.contacts("inbound"))["citizen_id"]


def test_messenger_new_case_notice_on_messenger(client, secret):
    deliver(client, secret, "messenger_text")

    case_id = only(support.contacts("inbound"))["case_id"]
    notice = only(support.contacts("outbound", "messenger"))
    assert notice["kind"] == "notice"
    assert notice["case_id"] == case_id


def test_messenger_postback_is_recorded_as_button(client, secret):
    deliver(client, secret, "messenger_postback")

    contact = only(support.contacts("inbound", "messenger"))
    assert contact["body"] == "Consultar un caso"
    assert contact["external_id"].startswith("m_Qx7Vw3kR9tYb2LpN006")


def test_messenger_postback_opens_one_case(client, secret):
    deliver(client, secret, "messenger_postback")
    deliver(client, secret, "messenger_postback")

    assert len(support.items_of_kind("CASE#", "CASE")) == 1
    assert len(support.contacts("inbound")) == 1


def test_messenger_echo_is_skipped(client, secret):
    before = support.scan_items()

    deliver(client, secret, "messenger_echo")

    assert support.scan_items() == before


def test_messenger_batch_records_both_people(client, secret):
    deliver(client, secret, "messenger_batched")

    bodies = sorted(item["body"] for item in support.contacts("inbound", "messenger"))
    assert bodies == ["Hablar con una persona", "Primer mensaje", "Segundo mensaje"]
    assert len(support.items_of_kind("IDENTITY#messenger#", "LINK")) == 2


def test_messenger_unknown_page_is_skipped(client, secret):
    payload = json.loads(hooks.raw_event("messenger_text"))
    payload["entry"][0]["id"] = "100000000000001"

    response = hooks.post_signed(client, PATH, hooks.signed_json(payload), secret)

    assert response.status_code == 200
    assert support.contacts() == []


def test_messenger_missing_sender_is_skipped(client, secret):
    response = hooks.post_signed(client, PATH, hooks.raw_event("messenger_missing_sender"), secret)

    assert response.status_code == 200
    assert support.contacts() == []


def test_messenger_wrong_object_names_field(client, secret):
    response = hooks.post_signed(client, PATH, hooks.raw_event("messenger_wrong_object"), secret)

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "object"


def test_messenger_whatsapp_secret_is_rejected(client, demo_agency):
    raw = hooks.raw_event("messenger_text")

    response = hooks.post_signed(client, PATH, raw, demo_agency["whatsapp_app_secret"])

    assert response.status_code == 401
    assert support.contacts() == []


def test_messenger_unsigned_post_is_rejected(client):
    response = hooks.post_signed(client, PATH, hooks.raw_event("messenger_text"), None)

    assert response.status_code == 401


def test_messenger_handshake_returns_challenge(client, demo_agency):
    response = hooks.handshake(
        client,
        PATH,
        mode="subscribe",
        verify_token=demo_agency["messenger_verify_token"],
        challenge="CHALLENGE_ACCEPTED_42",
    )

    assert response.status_code == 200
    assert response.body == b"CHALLENGE_ACCEPTED_42"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_messenger_handshake_wrong_token_is_forbidden(client, demo_agency):
    response = hooks.handshake(
        client,
        PATH,
        mode="subscribe",
        verify_token=demo_agency["whatsapp_verify_token"],
        challenge="CHALLENGE_ACCEPTED_42",
    )

    assert response.status_code == 403
