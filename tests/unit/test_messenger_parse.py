import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.messenger import (
    DELIVERY,
    MESSENGER,
    READ,
    parse_webhook,
    render_body,
    to_inbound,
)
from chalicelib.errors import ValidationError
from chalicelib.journey.models import Identity

EVENTS = Path(__file__).parent.parent / "events"
PAGE_ID = "104837265512093"
PSID = "7391058246613025"
OTHER_PSID = "6650193827741196"
AGENCY = AgencyConfig(
    agency_id="demo",
    name="Demo",
    country="MX",
    timezone="America/Mexico_City",
    default_language="es",
    languages=frozenset({"es"}),
    active_case_days=30,
    chat_enabled=True,
)


def load(name):
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def mid(number):
    return f"m_Qx7Vw3kR9tYb2LpN{number:03d}cF5hJ8sD1gZ4aE6uI0oK3mB7nV9xC2qW5eR8tY1uI4oP7"


def only_message(name):
    batch = parse_webhook(load(name))
    assert len(batch.messages) == 1
    return batch.messages[0]


@pytest.mark.parametrize(
    ("event", "kind", "body"),
    [
        ("messenger_text.json", "text", "Hola, ¿cómo reporto un bache?"),
        ("messenger_quick_reply.json", "button", "Sí, confirmo"),
        ("messenger_postback.json", "button", "Consultar un caso"),
        ("messenger_attachments.json", "media", "[image, file]"),
        ("messenger_fallback_attachment.json", "unsupported", "[unsupported fallback]"),
        ("messenger_reply_to.json", "text", "Ya lo envié"),
    ],
)
def test_messenger_message_kind_and_body(event, kind, body):
    message = only_message(event)
    assert message.content_kind == kind
    assert render_body(message) == body


def test_messenger_text_fields():
    message = only_message("messenger_text.json")
    assert message.page_id == PAGE_ID
    assert message.psid == PSID
    assert message.message_id == mid(1)
    assert message.timestamp == datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert message.reply_to is None
    assert message.identity == Identity(MESSENGER, PSID, verified=True)


@pytest.mark.parametrize(
    ("event", "content"),
    [
        (
            "messenger_quick_reply.json",
            {"source": "quick_reply", "payload": "CONFIRM_APPOINTMENT", "title": "Sí, confirmo"},
        ),
        (
            "messenger_postback.json",
            {"source": "postback", "payload": "CASE_STATUS", "title": "Consultar un caso"},
        ),
        ("messenger_fallback_attachment.json", {"type": "fallback"}),
    ],
)
def test_messenger_message_content(event, content):
    assert only_message(event).content == content


def test_messenger_attachments_keep_type_and_url():
    attachments = only_message("messenger_attachments.json").content["attachments"]
    assert [item["type"] for item in attachments] == ["image", "file"]
    assert attachments[0]["url"].startswith("https://scontent.example.net/")


def test_messenger_reply_to_names_earlier_message():
    assert only_message("messenger_reply_to.json").reply_to == mid(900)


def test_messenger_postback_keeps_its_mid():
    assert only_message("messenger_postback.json").message_id == mid(6)


def test_messenger_echo_is_returned_apart():
    batch = parse_webhook(load("messenger_echo.json"))
    assert batch.messages == ()
    assert len(batch.echoes) == 1


def test_messenger_echo_fields():
    echo = parse_webhook(load("messenger_echo.json")).echoes[0]
    assert echo.page_id == PAGE_ID
    assert echo.psid == PSID
    assert echo.message_id == mid(7)
    assert echo.text == "Caso 482-193-058 registrado."
    assert echo.app_id == "1093847261123344"
    assert echo.metadata == "ventanilla:case-opened"


def test_messenger_delivery_and_read_are_receipts():
    receipts = parse_webhook(load("messenger_delivery_read.json")).receipts
    assert [receipt.kind for receipt in receipts] == [DELIVERY, READ]
    assert receipts[0].message_ids == (mid(7),)
    assert receipts[0].timestamp is None
    assert receipts[1].message_ids == ()
    assert receipts[1].psid == PSID


def test_messenger_watermark_keeps_milliseconds():
    receipt = parse_webhook(load("messenger_delivery_read.json")).receipts[0]
    assert receipt.watermark == datetime(2026, 12, 4, 17, 6, 0, 250000, tzinfo=UTC)


def test_messenger_reaction_and_its_removal():
    react, unreact = parse_webhook(load("messenger_reaction.json")).messages
    assert react.content == {
        "message_id": mid(7),
        "emoji": "👍",
        "reaction": "like",
        "removed": False,
    }
    assert unreact.content["removed"] is True
    assert render_body(unreact) == "[reaction removed]"
    assert react.reply_to == mid(7)


def test_messenger_reaction_ids_are_stable_and_distinct():
    first = parse_webhook(load("messenger_reaction.json")).messages
    again = parse_webhook(load("messenger_reaction.json")).messages
    assert [message.message_id for message in first] == [message.message_id for message in again]
    assert first[0].message_id != first[1].message_id


def test_messenger_batch_splits_event_kinds():
    batch = parse_webhook(load("messenger_batched.json"))
    assert [render_body(message) for message in batch.messages] == [
        "Primer mensaje",
        "Hablar con una persona",
        "Segundo mensaje",
    ]
    assert [echo.message_id for echo in batch.echoes] == [mid(9)]
    assert [receipt.message_ids for receipt in batch.receipts] == [(mid(9),)]
    assert batch.skipped == 1


def test_messenger_postback_without_mid_gets_event_id():
    postback = parse_webhook(load("messenger_batched.json")).messages[1]
    expected_ms = int(datetime(2026, 12, 4, 17, 9, 10, tzinfo=UTC).timestamp() * 1000)
    assert postback.message_id == f"postback:{OTHER_PSID}:{expected_ms}"
    assert postback.psid == OTHER_PSID


def test_messenger_wrong_object_names_the_field():
    with pytest.raises(ValidationError) as caught:
        parse_webhook(load("messenger_wrong_object.json"))
    assert caught.value.field == "object"


def invalid_of(batch):
    assert batch.messages == ()
    return [(item.path, item.code) for item in batch.invalid]


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ("messenger_missing_sender.json", "entry[0].messaging[0].sender"),
        ("messenger_message_without_timestamp.json", "entry[0].messaging[0].timestamp"),
    ],
)
def test_messenger_invalid_event_is_skipped(event, path):
    assert invalid_of(parse_webhook(load(event))) == [(path, "missing")]


@pytest.mark.parametrize("timestamp", ["yesterday", -5, 1.5, True, "17963964000001234567"])
def test_messenger_bad_timestamp_is_skipped(timestamp):
    payload = load("messenger_text.json")
    payload["entry"][0]["messaging"][0]["timestamp"] = timestamp
    paths = [path for path, _ in invalid_of(parse_webhook(payload))]
    assert paths == ["entry[0].messaging[0].timestamp"]


def test_messenger_message_without_mid_is_skipped():
    payload = load("messenger_text.json")
    del payload["entry"][0]["messaging"][0]["message"]["mid"]
    path = "entry[0].messaging[0].message.mid"
    assert invalid_of(parse_webhook(payload)) == [(path, "missing")]


def test_messenger_bad_event_keeps_valid_one():
    payload = load("messenger_text.json")
    events = payload["entry"][0]["messaging"]
    bad = json.loads(json.dumps(events[0]))
    bad["message"]["mid"] = 42
    events.append(bad)
    batch = parse_webhook(payload)
    assert len(batch.messages) == 1
    assert [item.path for item in batch.invalid] == ["entry[0].messaging[1].message.mid"]


@pytest.mark.parametrize("payload", [None, [], {"object": "page"}, {"object": "page", "entry": []}])
def test_messenger_non_webhook_payload_is_invalid(payload):
    with pytest.raises(ValidationError):
        parse_webhook(payload)


def test_messenger_standby_events_are_skipped():
    payload = load("messenger_text.json")
    entry = payload["entry"][0]
    entry["standby"] = entry.pop("messaging")
    batch = parse_webhook(payload)
    assert batch.messages == ()


def test_to_inbound_text():
    message = only_message("messenger_text.json")
    inbound = to_inbound(message, AGENCY)
    assert inbound.channel == MESSENGER
    assert inbound.external_id == mid(1)
    assert inbound.sender == Identity(MESSENGER, PSID, verified=True)
    assert inbound.body == "Hola, ¿cómo reporto un bache?"
    assert inbound.occurred_at == message.timestamp
    assert inbound.content_kind == "text"
    assert inbound.content is None


def test_to_inbound_postback_is_button():
    inbound = to_inbound(only_message("messenger_postback.json"), AGENCY)
    assert inbound.content_kind == "button"
    assert inbound.content["payload"] == "CASE_STATUS"
    assert inbound.body == "Consultar un caso"


def test_to_inbound_reply_to():
    inbound = to_inbound(only_message("messenger_reply_to.json"), AGENCY)
    assert inbound.reply_to_external_id == mid(900)
