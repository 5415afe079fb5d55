"""WhatsApp: Cloud API webhooks on /webhooks/whatsapp, and End User Messaging Social over SNS."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.errors import ValidationError
from tests import support
from tests import support_webhooks as hooks

PATH = hooks.WHATSAPP_PATH
TEXT_ID = "wamid.HBgNNTIxNTU0MTYzNzE0NRUCABIYFjNFQjA0001QkE4RjQxQzJEMDk2QzVBAA=="
WA_PHONE = "+525541637145"
USER_ID = "MX.8472019365510284"
THREADS = 4


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    hooks.refuse_remote_sockets(monkeypatch)


@pytest.fixture
def secret(demo_agency):
    return demo_agency["whatsapp_app_secret"]


def deliver(client, secret, name):
    response = hooks.post_signed(client, PATH, hooks.raw_event(name), secret)
    assert response.status_code == 200, response.body
    return response


def only(items):
    assert len(items) == 1, items
    return items[0]


def whatsapp_link(kind, value):
    return support.get_item(f"IDENTITY#{kind}#{value}", "LINK")


def notices():
    return [item for item in support.contacts("outbound", "whatsapp") if item["kind"] == "notice"]


# A signed message


def test_whatsapp_signed_text_is_received(client, secret):
    response = deliver(client, secret, "whatsapp_text")

    assert response.json_body == {"status": "received"}


def test_whatsapp_text_keeps_accents_and_email(client, secret):
    deliver(client, secret, "whatsapp_text")

    contact = only(support.contacts("inbound", "whatsapp"))
    assert contact["body"].startswith("Buenos días. Mi correo es ana.lopez@example.org")
    assert "la fuga está en https://example.org/fotos/fuga-juarez.jpg" in contact["body"]


def test_whatsapp_text_uses_message_time(client, secret):
    deliver(client, secret, "whatsapp_text")

    contact = only(support.contacts("inbound", "whatsapp"))
    assert contact["occurred_at"] == hooks.epoch_time(1796396400)
    assert contact["sk"].startswith(f"CONTACT#{hooks.epoch_time(1796396400)}#")
    assert contact["external_id"] == TEXT_ID


def test_whatsapp_text_links_verified_wa_id(client, secret):
    deliver(client, secret, "whatsapp_text")

    link = whatsapp_link("whatsapp", WA_PHONE)
    contact = only(support.contacts("inbound", "whatsapp"))
    assert link["verified"] is True
    assert link["citizen_id"] == contact["citizen_id"]
    assert support.profile(link["citizen_id"])["provisional"] is False


def test_whatsapp_text_opens_case_for_demo(client, secret):
    deliver(client, secret, "whatsapp_text")

    contact = only(support.contacts("inbound", "whatsapp"))
    case = support.case_item(contact["case_id"])
    assert case["agency_id"] == "demo"
    assert case["channel"] == "whatsapp"
    assert case["status"] == "open"


def test_whatsapp_new_case_notice_sent_on_whatsapp(client, secret):
    deliver(client, secret, "whatsapp_text")

    case_id = only(support.contacts("inbound", "whatsapp"))["case_id"]
    notice = only(notices())
    reference = support.case_item(case_id)["reference"]
    assert notice["case_id"] == case_id
    assert f"{reference[:3]}-{reference[3:6]}-{reference[6:]}" in notice["body"]


# Signatures


def test_whatsapp_pretty_printed_copy_is_rejected(client, secret):
    raw = hooks.raw_event("whatsapp_text")
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False).encode()
    before = support.scan_items()

    response = hooks.post_signed(client, PATH, pretty, None, header=hooks.signature(raw, secret))

    assert response.status_code == 401
    assert response.json_body["error"]["field"] == "X-Hub-Signature-256"
    assert support.scan_items() == before


def test_whatsapp_missing_signature_is_rejected(client):
    before = support.scan_items()

    response = hooks.post_signed(client, PATH, hooks.raw_event("whatsapp_text"), None)

    assert response.status_code == 401
    assert "missing" in response.json_body["error"]["message"]
    assert support.scan_items() == before


def test_whatsapp_messenger_secret_is_rejected(client, demo_agency):
    raw = hooks.raw_event("whatsapp_text")

    response = hooks.post_signed(client, PATH, raw, demo_agency["messenger_app_secret"])

    assert response.status_code == 401
    assert support.contacts() == []


def test_whatsapp_malformed_signature_is_rejected(client):
    raw = hooks.raw_event("whatsapp_text")

    response = hooks.post_signed(client, PATH, raw, None, header="sha1=abc")

    assert response.status_code == 401


# Handshake


def test_whatsapp_handshake_returns_exact_challenge(client, demo_agency):
    challenge = "1158201444+a b&c"
    response = hooks.handshake(
        client,
        PATH,
        mode="subscribe",
        verify_token=demo_agency["whatsapp_verify_token"],
        challenge=challenge,
    )

    assert response.status_code == 200
    assert response.body == challenge.encode()
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("mode", "token_key"),
    [
        ("subscribe", "messenger_verify_token"),
        ("unsubscribe", "whatsapp_verify_token"),
        ("subscribe", None),
    ],
)
def test_whatsapp_handshake_failures_are_forbidden(client, demo_agency, mode, token_key):
    params = {"mode": mode, "challenge": "1158201444"}
    if token_key is not None:
        params["verify_token"] = demo_agency[token_key]

    response = hooks.handshake(client, PATH, **params)

    assert response.status_code == 403
    assert b"1158201444" not in response.body


# Malformed and partly unknown deliveries


def test_whatsapp_signed_malformed_message_is_skipped(client, secret):
    response = hooks.post_signed(
        client, PATH, hooks.raw_event("whatsapp_missing_message_id"), secret
    )

    assert response.status_code == 200
    assert support.contacts() == []


def with_malformed_message(change):
    payload = json.loads(hooks.raw_event("whatsapp_text"))
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    bad = json.loads(json.dumps(messages[0]))
    bad["id"] = "wamid.malformed"
    change(bad)
    messages.append(bad)
    return hooks.signed_json(payload)


@pytest.mark.parametrize(
    "change",
    [
        lambda message: message.pop("text"),
        lambda message: message["text"].update(body=None),
        lambda message: message.update(**{"from": 525541637145}),
        lambda message: message.update(timestamp="99999999999999999999"),
        lambda message: message.update(type="location", location={"latitude": 91, "longitude": 0}),
    ],
    ids=["no_text", "null_body", "numeric_from", "far_timestamp", "far_latitude"],
)
def test_whatsapp_malformed_message_keeps_valid_one(client, secret, change):
    response = hooks.post_signed(client, PATH, with_malformed_message(change), secret)

    assert response.status_code == 200, response.body
    contact = only(support.contacts("inbound", "whatsapp"))
    assert contact["external_id"] == TEXT_ID


def test_whatsapp_change_without_metadata_keeps_valid_one(client, secret):
    payload = json.loads(hooks.raw_event("whatsapp_text"))
    change = json.loads(json.dumps(payload["entry"][0]["changes"][0]))
    del change["value"]["metadata"]
    payload["entry"][0]["changes"].append(change)

    response = hooks.post_signed(client, PATH, hooks.signed_json(payload), secret)

    assert response.status_code == 200, response.body
    assert only(support.contacts("inbound", "whatsapp"))["external_id"] == TEXT_ID


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], None),
        ({"object": "page", "entry": []}, "object"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry"),
    ],
    ids=["not_object", "wrong_object", "entry_not_list"],
)
def test_whatsapp_invalid_envelope_is_rejected(client, secret, payload, field):
    before = support.scan_items()

    response = hooks.post_signed(client, PATH, hooks.signed_json(payload), secret)

    assert response.status_code == 400
    assert response.json_body["error"].get("field") == field
    assert support.scan_items() == before


def test_whatsapp_signed_body_not_json_is_rejected(client, secret):
    response = hooks.post_signed(client, PATH, b"{not json", secret)

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "body"


def test_whatsapp_unknown_number_is_skipped(client, secret):
    payload = json.loads(hooks.raw_event("whatsapp_batched"))
    payload["entry"][1]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999000111222"
    raw = hooks.signed_json(payload)

    response = hooks.post_signed(client, PATH, raw, secret)

    assert response.status_code == 200
    bodies = sorted(item["body"] for item in support.contacts("inbound", "whatsapp"))
    assert bodies == ["Primer mensaje", "Segundo mensaje"]


def test_whatsapp_batch_routes_each_number_to_its_agency(client, secret):
    deliver(client, secret, "whatsapp_batched")

    agencies = {item["body"]: item["agency_id"] for item in support.contacts("inbound")}
    assert agencies == {
        "Primer mensaje": "demo",
        "Segundo mensaje": "demo",
        "Mensaje al otro número": "water",
    }


# Redeliveries


def test_whatsapp_redelivery_is_recorded_once(client, secret):
    deliver(client, secret, "whatsapp_text")
    deliver(client, secret, "whatsapp_text")

    assert len(support.contacts("inbound", "whatsapp")) == 1
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


def test_whatsapp_redelivery_is_answered_once(client, secret):
    deliver(client, secret, "whatsapp_text")
    deliver(client, secret, "whatsapp_text")

    assert len(notices()) == 1


def test_whatsapp_concurrent_deliveries_record_once(client, secret, monkeypatch):
    support.serialize_moto_requests(monkeypatch)
    raw = hooks.raw_event("whatsapp_text")
    start = threading.Barrier(THREADS)

    def deliver_at_once():
        start.wait()
        return hooks.post_signed(client, PATH, raw, secret).status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(lambda _: deliver_at_once(), range(THREADS)))

    assert statuses == [200] * THREADS
    assert len(support.contacts("inbound", "whatsapp")) == 1
    assert len(notices()) == 1
    assert len(support.items_of_kind("CITIZEN#", "PROFILE")) == 1
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


# Phone-based and business-scoped ids


def test_whatsapp_both_ids_link_one_citizen(client, secret):
    deliver(client, secret, "whatsapp_phone_and_user_id")

    phone = whatsapp_link("whatsapp", WA_PHONE)
    user = whatsapp_link("whatsapp_user", USER_ID)
    assert phone["citizen_id"] == user["citizen_id"]
    assert user["verified"] is True
    assert len(support.items_of_kind("CITIZEN#", "PROFILE")) == 1


def test_whatsapp_user_id_only_joins_linked_citizen(client, secret):
    deliver(client, secret, "whatsapp_phone_and_user_id")
    deliver(client, secret, "whatsapp_user_id_only")

    citizens = {item["citizen_id"] for item in support.contacts("inbound", "whatsapp")}
    cases = {item["case_id"] for item in support.contacts("inbound", "whatsapp")}
    assert len(citizens) == 1
    assert len(cases) == 1
    assert len(notices()) == 1


def test_whatsapp_wa_id_later_joins_user_id_citizen(client, secret):
    deliver(client, secret, "whatsapp_user_id_only")
    deliver(client, secret, "whatsapp_phone_and_user_id")

    user = whatsapp_link("whatsapp_user", USER_ID)
    phone = whatsapp_link("whatsapp", WA_PHONE)
    assert phone["citizen_id"] == user["citizen_id"]
    assert phone["open_cases"]["demo"]["case_id"] == user["open_cases"]["demo"]["case_id"]
    assert len(support.items_of_kind("CASE#", "CASE")) == 1


# End User Messaging Social


def test_social_text_is_recorded_as_webhook(client):
    hooks.invoke(client, "inbound_whatsapp_social", support.load_event("social_whatsapp_text"))

    contact = only(support.contacts("inbound", "whatsapp"))
    assert contact["body"] == "Buenas tardes, ¿sigue abierta la ventanilla?"
    assert contact["agency_id"] == "demo"
    assert contact["occurred_at"] == hooks.epoch_time(1796397660)
    assert whatsapp_link("whatsapp", WA_PHONE)["citizen_id"] == contact["citizen_id"]
    assert len(notices()) == 1


def test_social_then_webhook_is_recorded_once(client, secret):
    event = support.load_event("social_whatsapp_text")
    entry = json.loads(hooks.sns_message(event)["whatsAppWebhookEntry"])
    raw = hooks.signed_json({"object": "whatsapp_business_account", "entry": [entry]})

    hooks.invoke(client, "inbound_whatsapp_social", event)
    response = hooks.post_signed(client, PATH, raw, secret)

    assert response.status_code == 200
    assert len(support.contacts("inbound", "whatsapp")) == 1
    assert len(notices()) == 1


def test_social_invalid_entry_writes_nothing(client):
    before = support.scan_items()

    with pytest.raises(ValidationError) as raised:
        hooks.invoke(client, "inbound_whatsapp_social", support.load_event("social_entry_not_json"))

    assert raised.value.field == "Records[0].Sns.Message.whatsAppWebhookEntry"
    assert support.scan_items() == before


def test_social_invalid_message_is_skipped(client):
    event = support.load_event("social_whatsapp_text")
    message = hooks.sns_message(event)
    entry = json.loads(message["whatsAppWebhookEntry"])
    del entry["changes"][0]["value"]["messages"][0]["id"]
    message["whatsAppWebhookEntry"] = json.dumps(entry)
    event = hooks.sns_event("social_whatsapp_text", message)

    hooks.invoke(client, "inbound_whatsapp_social", event)

    assert support.contacts() == []
