import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.whatsapp import (
    WHATSAPP,
    WHATSAPP_USER,
    parse_social_notification,
    parse_webhook,
    render_body,
    status_rank,
    to_inbound,
)
from chalicelib.errors import ValidationError
from chalicelib.journey.models import Identity

EVENTS = Path(__file__).parent.parent / "events"
PHONE_NUMBER_ID = "271093650481234"
REMINDER_WAMID = "wamid.HBgNNTIxNTU0MTYzNzE0NRUCABEYEjQ0QjVGMzIxOUE3MDY1QzhEOAA="
CITIZEN_PHONE = Identity(WHATSAPP, "+525541637145", verified=True)
CITIZEN_BSUID = Identity(WHATSAPP_USER, "MX.8472019365510284", verified=True)
AGENCY = AgencyConfig(
    agency_id="demo",
    name="Demo",
    country="MX",
    timezone="America/Mexico_City",
    default_language="es",
    languages=frozenset({"es", "en"}),
    active_case_days=30,
    chat_enabled=True,
)


def load(name):
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def only_message(name):
    batch = parse_webhook(load(name))
    assert len(batch.messages) == 1
    return batch.messages[0]


def social_message(name):
    return json.loads(load(name)["Records"][0]["Sns"]["Message"])


@pytest.mark.parametrize(
    ("event", "kind", "body"),
    [
        (
            "whatsapp_text.json",
            "text",
            "Buenos días. Mi correo es ana.lopez@example.org y la foto de la fuga está en "
            "https://example.org/fotos/fuga-juarez.jpg",
        ),
        ("whatsapp_button_reply.json", "button", "Confirmar"),
        ("whatsapp_list_reply.json", "button", "Fuga de agua"),
        ("whatsapp_template_button.json", "button", "Cancelar cita"),
        ("whatsapp_location.json", "location", "[location] Escuela Benito Juárez"),
        ("whatsapp_reaction.json", "reaction", "[reaction] 👍"),
        ("whatsapp_reaction_removed.json", "reaction", "[reaction removed]"),
        ("whatsapp_image.json", "media", "Así está la banqueta"),
        ("whatsapp_document.json", "media", "[document] comprobante-domicilio.pdf"),
        ("whatsapp_voice.json", "media", "[audio]"),
        ("whatsapp_unsupported.json", "unsupported", "[unsupported message]"),
        ("whatsapp_unknown_type.json", "unsupported", "[unsupported order]"),
    ],
)
def test_whatsapp_message_kind_and_body(event, kind, body):
    message = only_message(event)
    assert message.content_kind == kind
    assert render_body(message) == body


def test_whatsapp_text_fields():
    message = only_message("whatsapp_text.json")
    assert message.phone_number_id == PHONE_NUMBER_ID
    assert message.display_phone_number == "525550000100"
    assert message.waba_id == "318406712235577"
    assert message.wa_id == "5215541637145"
    assert message.profile_name == "Ana López"
    assert message.message_id.startswith("wamid.")
    assert message.timestamp == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert message.content == {}
    assert message.reply_to is None


@pytest.mark.parametrize(
    ("event", "content"),
    [
        (
            "whatsapp_button_reply.json",
            {"source": "button_reply", "payload": "confirm-appointment", "title": "Confirmar"},
        ),
        (
            "whatsapp_list_reply.json",
            {
                "source": "list_reply",
                "payload": "topic-water-leak",
                "title": "Fuga de agua",
                "description": "Fugas en la vía pública",
            },
        ),
        (
            "whatsapp_template_button.json",
            {
                "source": "template_button",
                "payload": "CANCEL_APPOINTMENT",
                "title": "Cancelar cita",
            },
        ),
        (
            "whatsapp_location.json",
            {
                "latitude": 19.432608,
                "longitude": -99.133209,
                "name": "Escuela Benito Juárez",
                "address": "Calle Juárez 12, Centro, Ciudad de México",
            },
        ),
        (
            "whatsapp_reaction.json",
            {"message_id": REMINDER_WAMID, "emoji": "👍", "removed": False},
        ),
        (
            "whatsapp_reaction_removed.json",
            {"message_id": REMINDER_WAMID, "emoji": None, "removed": True},
        ),
        (
            "whatsapp_document.json",
            {
                "media_type": "document",
                "id": "902715538846120",
                "mime_type": "application/pdf",
                "sha256": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
                "filename": "comprobante-domicilio.pdf",
            },
        ),
        (
            "whatsapp_voice.json",
            {
                "media_type": "audio",
                "id": "771203948561127",
                "mime_type": "audio/ogg; codecs=opus",
                "sha256": "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                "voice": True,
            },
        ),
        ("whatsapp_unsupported.json", {"type": "unsupported", "error_codes": [131051]}),
        ("whatsapp_unknown_type.json", {"type": "order", "error_codes": []}),
    ],
)
def test_whatsapp_message_content(event, content):
    assert only_message(event).content == content


def test_whatsapp_image_content():
    content = only_message("whatsapp_image.json").content
    assert content["media_type"] == "image"
    assert content["id"] == "1184630275519023"
    assert content["caption"] == "Así está la banqueta"


@pytest.mark.parametrize(
    "event",
    [
        "whatsapp_button_reply.json",
        "whatsapp_list_reply.json",
        "whatsapp_template_button.json",
        "whatsapp_reaction.json",
    ],
)
def test_whatsapp_reply_points_at_business_message(event):
    assert only_message(event).reply_to == REMINDER_WAMID


@pytest.mark.parametrize(
    ("event", "identities"),
    [
        ("whatsapp_text.json", (CITIZEN_PHONE,)),
        ("whatsapp_phone_and_user_id.json", (CITIZEN_PHONE, CITIZEN_BSUID)),
        ("whatsapp_user_id_only.json", (CITIZEN_BSUID,)),
    ],
)
def test_whatsapp_sender_identities(event, identities):
    assert only_message(event).identities == identities


def test_whatsapp_user_id_only_has_no_phone():
    message = only_message("whatsapp_user_id_only.json")
    assert message.wa_id is None
    assert message.profile_name == "Ana"


def test_whatsapp_non_phone_wa_id_is_kept():
    payload = load("whatsapp_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "123"
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "123"
    message = parse_webhook(payload).messages[0]
    assert message.identities == (Identity(WHATSAPP, "123", verified=True),)


def test_whatsapp_batch_keeps_every_message():
    batch = parse_webhook(load("whatsapp_batched.json"))
    assert [render_body(message) for message in batch.messages] == [
        "Primer mensaje",
        "Segundo mensaje",
        "Mensaje al otro número",
    ]
    assert [message.phone_number_id for message in batch.messages] == [
        PHONE_NUMBER_ID,
        PHONE_NUMBER_ID,
        "271093650489876",
    ]


def test_whatsapp_batch_matches_contacts():
    first, second, _ = parse_webhook(load("whatsapp_batched.json")).messages
    assert first.profile_name == "Ana López"
    assert second.profile_name == "Martín Gómez"
    assert second.identities == (Identity(WHATSAPP, "+5491123456789", verified=True),)


def test_whatsapp_change_of_other_field_is_skipped():
    payload = load("whatsapp_batched.json")
    del payload["entry"][1]
    del payload["entry"][0]["changes"][0]
    batch = parse_webhook(payload)
    assert batch.messages == ()
    assert batch.statuses == ()


def test_whatsapp_statuses_keep_webhook_order():
    statuses = parse_webhook(load("whatsapp_statuses.json")).statuses
    assert [status.status for status in statuses] == ["sent", "read", "delivered", "failed"]
    assert statuses[0].recipient_id == "5215541637145"
    assert statuses[0].phone_number_id == PHONE_NUMBER_ID
    assert statuses[1].timestamp == datetime(2026, 12, 4, 16, 0, 9, tzinfo=UTC)


def test_whatsapp_failed_status_carries_error_codes():
    failed = parse_webhook(load("whatsapp_statuses.json")).statuses[3]
    assert failed.error_codes == (131026,)
    assert failed.errors[0].title == "Message undeliverable"


def test_whatsapp_value_errors_name_the_business_number():
    batch = parse_webhook(load("whatsapp_value_errors.json"))
    assert [(number, error.code) for number, error in batch.errors] == [(PHONE_NUMBER_ID, 131047)]


@pytest.mark.parametrize(
    ("earlier", "later", "moves"),
    [
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("sent", "read", True),
        ("read", "delivered", False),
        ("read", "sent", False),
        ("delivered", "sent", False),
        ("sent", "failed", True),
        ("failed", "sent", False),
        ("delivered", "failed", False),
        ("failed", "delivered", True),
        ("failed", "read", True),
        ("read", "failed", False),
        ("read", "read", False),
        ("sent", "played", False),
    ],
)
def test_status_rank_moves_only_forward(earlier, later, moves):
    assert (status_rank(later) > status_rank(earlier)) is moves


def test_status_out_of_order_keeps_read():
    statuses = parse_webhook(load("whatsapp_statuses.json")).statuses[:3]
    latest = max(statuses, key=lambda status: status_rank(status.status))
    assert latest.status == "read"


def test_whatsapp_wrong_object_names_the_field():
    with pytest.raises(ValidationError) as caught:
        parse_webhook(load("whatsapp_wrong_object.json"))
    assert caught.value.field == "object"


def invalid_of(batch):
    assert batch.messages == ()
    return [(item.path, item.code) for item in batch.invalid]


@pytest.mark.parametrize(
    ("event", "path", "code"),
    [
        (
            "whatsapp_bad_timestamp.json",
            "entry[0].changes[0].value.messages[0].timestamp",
            "value_error",
        ),
        ("whatsapp_missing_message_id.json", "entry[0].changes[0].value.messages[0].id", "missing"),
        ("whatsapp_missing_sender.json", "entry[0].changes[0].value.messages[0].from", "missing"),
        (
            "whatsapp_missing_phone_number_id.json",
            "entry[0].changes[0].value.metadata.phone_number_id",
            "missing",
        ),
    ],
)
def test_whatsapp_invalid_item_is_skipped(event, path, code):
    assert invalid_of(parse_webhook(load(event))) == [(path, code)]


def with_timestamp(timestamp):
    payload = load("whatsapp_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = timestamp
    return payload


@pytest.mark.parametrize("timestamp", ["1796396400", 1796396400])
def test_whatsapp_epoch_timestamp_is_valid(timestamp):
    message = parse_webhook(with_timestamp(timestamp)).messages[0]
    assert message.timestamp == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "timestamp",
    ["-1796396400", "1796396400.5", "", "99999999999999999999", "2026-12-04", True, None],
)
def test_whatsapp_bad_timestamp_is_skipped(timestamp):
    paths = [path for path, _ in invalid_of(parse_webhook(with_timestamp(timestamp)))]
    assert paths == ["entry[0].changes[0].value.messages[0].timestamp"]


@pytest.mark.parametrize(
    ("message_type", "field"),
    [
        ("text", "text"),
        ("interactive", "interactive"),
        ("location", "location"),
        ("image", "image"),
    ],
)
def test_whatsapp_message_without_its_body_is_skipped(message_type, field):
    payload = load("whatsapp_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = message_type
    del message["text"]
    path = f"entry[0].changes[0].value.messages[0].{field}"
    assert invalid_of(parse_webhook(payload)) == [(path, "missing")]


def with_bad_second_message(change):
    """Return the text event with a copy of its message, changed by `change`, after it."""
    payload = load("whatsapp_text.json")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    bad = json.loads(json.dumps(messages[0]))
    bad["id"] = "wamid.bad"
    change(bad)
    messages.append(bad)
    return payload


def drop_text(message):
    del message["text"]


def null_body(message):
    message["text"]["body"] = None


def numeric_sender(message):
    message["from"] = 525541637145


def far_latitude(message):
    message.update(type="location", location={"latitude": 91, "longitude": 0})


def huge_timestamp(message):
    message["timestamp"] = "99999999999999999999"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (drop_text, "text"),
        (null_body, "text.body"),
        (numeric_sender, "from"),
        (far_latitude, "location.latitude"),
        (huge_timestamp, "timestamp"),
    ],
)
def test_whatsapp_bad_message_keeps_valid_one(change, field):
    batch = parse_webhook(with_bad_second_message(change))
    assert [message.message_id for message in batch.messages] == [
        only_message("whatsapp_text.json").message_id
    ]
    assert [item.path for item in batch.invalid] == [
        f"entry[0].changes[0].value.messages[1].{field}"
    ]


def test_whatsapp_bad_status_keeps_valid_ones():
    payload = load("whatsapp_statuses.json")
    statuses = payload["entry"][0]["changes"][0]["value"]["statuses"]
    count = len(statuses)
    statuses[0]["timestamp"] = 1796396400.5
    batch = parse_webhook(payload)
    assert len(batch.statuses) == count - 1
    assert [item.path for item in batch.invalid] == [
        "entry[0].changes[0].value.statuses[0].timestamp"
    ]


def test_whatsapp_change_without_metadata_is_skipped():
    payload = load("whatsapp_text.json")
    change = json.loads(json.dumps(payload["entry"][0]["changes"][0]))
    del change["value"]["metadata"]
    payload["entry"][0]["changes"].append(change)
    batch = parse_webhook(payload)
    assert len(batch.messages) == 1
    assert batch.invalid[0].path == "entry[0].changes[1].value.metadata"
    assert batch.invalid[0].code == "missing"


def test_whatsapp_entry_without_id_is_skipped():
    payload = load("whatsapp_text.json")
    entry = json.loads(json.dumps(payload["entry"][0]))
    del entry["id"]
    payload["entry"].append(entry)
    batch = parse_webhook(payload)
    assert len(batch.messages) == 1
    assert [item.path for item in batch.invalid] == ["entry[1].id"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {}},
        {"object": "page", "entry": [{"id": "1"}]},
    ],
)
def test_whatsapp_non_webhook_payload_is_invalid(payload):
    with pytest.raises(ValidationError):
        parse_webhook(payload)


def test_social_notification_normalizes_like_the_webhook():
    notification = social_message("social_whatsapp_text.json")
    entry = json.loads(notification["whatsAppWebhookEntry"])
    direct = parse_webhook({"object": "whatsapp_business_account", "entry": [entry]})
    assert parse_social_notification(notification).messages == direct.messages


def test_social_notification_text_message():
    message = parse_social_notification(social_message("social_whatsapp_text.json")).messages[0]
    assert message.text == "Buenas tardes, ¿sigue abierta la ventanilla?"
    assert message.phone_number_id == PHONE_NUMBER_ID
    assert message.identities == (CITIZEN_PHONE,)


def test_social_notification_keeps_aws_ids():
    social = parse_social_notification(social_message("social_whatsapp_text.json")).social
    assert social.aws_account_id == "123456789012"
    assert social.event_id == "7e2d9c41-3b6a-4f80-9d15-2c7b8e0a6f31"
    assert social.waba_ids == ("318406712235577",)
    assert social.phone_number_arns[PHONE_NUMBER_ID].endswith(
        ":phone-number-id/8d2f4a6c1e3b5d7f9a0c2e4b6d8f0a1c"
    )


def test_social_notification_status():
    batch = parse_social_notification(social_message("social_whatsapp_status.json"))
    assert [status.status for status in batch.statuses] == ["delivered"]
    assert batch.messages == ()


def test_social_entry_that_is_not_json_names_it():
    with pytest.raises(ValidationError) as caught:
        parse_social_notification(social_message("social_entry_not_json.json"))
    assert caught.value.field == "whatsAppWebhookEntry"


def test_social_invalid_message_is_skipped():
    notification = social_message("social_whatsapp_text.json")
    entry = json.loads(notification["whatsAppWebhookEntry"])
    entry["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
    notification["whatsAppWebhookEntry"] = json.dumps(entry)
    batch = parse_social_notification(notification)
    assert batch.messages == ()
    assert [item.path for item in batch.invalid] == [
        "whatsAppWebhookEntry.changes[0].value.messages[0].timestamp"
    ]


def test_social_entry_without_id_is_invalid():
    notification = social_message("social_whatsapp_text.json")
    entry = json.loads(notification["whatsAppWebhookEntry"])
    del entry["id"]
    notification["whatsAppWebhookEntry"] = json.dumps(entry)
    with pytest.raises(ValidationError) as caught:
        parse_social_notification(notification)
    assert caught.value.field == "whatsAppWebhookEntry.id"


def test_social_notification_without_entry_is_invalid():
    notification = social_message("social_whatsapp_text.json")
    del notification["whatsAppWebhookEntry"]
    with pytest.raises(ValidationError) as caught:
        parse_social_notification(notification)
    assert caught.value.field == "whatsAppWebhookEntry"


def test_to_inbound_text():
    inbound = to_inbound(only_message("whatsapp_text.json"), AGENCY)
    assert inbound.agency == AGENCY
    assert inbound.channel == WHATSAPP
    assert inbound.external_id == only_message("whatsapp_text.json").message_id
    assert inbound.sender == CITIZEN_PHONE
    assert inbound.occurred_at == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert inbound.content_kind == "text"
    assert inbound.content is None
    assert inbound.display_name == "Ana López"


def test_to_inbound_button_reply():
    inbound = to_inbound(only_message("whatsapp_button_reply.json"), AGENCY)
    assert inbound.body == "Confirmar"
    assert inbound.content_kind == "button"
    assert inbound.content["payload"] == "confirm-appointment"
    assert inbound.reply_to_external_id == REMINDER_WAMID


def test_to_inbound_user_id_only_sender():
    inbound = to_inbound(only_message("whatsapp_user_id_only.json"), AGENCY)
    assert inbound.sender == CITIZEN_BSUID
    assert inbound.body == "Quiero saber el estado de mi trámite 482-193-058"


def test_to_inbound_prefers_phone_identity():
    inbound = to_inbound(only_message("whatsapp_phone_and_user_id.json"), AGENCY)
    assert inbound.sender == CITIZEN_PHONE


def test_location_without_name_shows_coordinates():
    payload = load("whatsapp_location.json")
    location = payload["entry"][0]["changes"][0]["value"]["messages"][0]["location"]
    del location["name"]
    del location["address"]
    assert render_body(parse_webhook(payload).messages[0]) == "[location] 19.432608, -99.133209"
