"""Inputs a hostile or broken client sends, each answered by a clear error and no write."""

import json
from datetime import UTC, datetime

import pytest
from chalice.test import Client

from chalicelib.clock import isoformat_z

JSON = {"Content-Type": "application/json"}

UNPARSABLE_BODIES = {
    "deep_nesting": "[" * 100_000,
    "long_integer": "1" * 5_000,
}


@pytest.mark.parametrize("body", UNPARSABLE_BODIES.values(), ids=UNPARSABLE_BODIES)
def test_chat_session_unparsable_body_is_400(client: Client, body: str):
    response = client.http.post("/chat/sessions", headers=JSON, body=body)

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "body"


@pytest.mark.parametrize("body", UNPARSABLE_BODIES.values(), ids=UNPARSABLE_BODIES)
def test_sms_unparsable_message_raises_validation_error(client: Client, body: str):
    from chalicelib.errors import ValidationError

    event = client.events.generate_sns_event(message=body)

    with pytest.raises(ValidationError) as raised:
        client.lambda_.invoke("inbound_sms", event)

    assert raised.value.field == "Records[0].Sns.Message"


def test_chat_session_id_not_hex_is_404_without_echo(client: Client):
    session_id = "x" * 5_000

    response = client.http.get(f"/chat/sessions/{session_id}/messages")

    assert response.status_code == 404
    assert session_id not in response.body.decode()


def test_undecodable_body_names_byte_position(client: Client):
    response = client.http.post("/chat/sessions", headers=JSON, body=b'{"a": "\xff"}')

    assert response.status_code == 400
    assert "position 7" in response.json_body["error"]["message"]


def test_timestamp_before_year_1000_keeps_sort_order():
    early = isoformat_z(datetime(1, 1, 1, tzinfo=UTC))
    late = isoformat_z(datetime(2026, 12, 4, tzinfo=UTC))

    assert early == "0001-01-01T00:00:00.000Z"
    assert early < late


def test_chat_post_with_empty_json_object_names_text(client: Client):
    opened = client.http.post(
        "/chat/sessions", headers=JSON, body=json.dumps({"agency_id": "demo"})
    ).json_body
    headers = {**JSON, "X-Session-Token": opened["session_token"]}

    response = client.http.post(
        f"/chat/sessions/{opened['session_id']}/messages", headers=headers, body="{}"
    )

    assert response.status_code == 400
    assert response.json_body["error"]["field"] == "text"


def test_chat_key_reused_with_other_text_is_409(client: Client):
    opened = client.http.post(
        "/chat/sessions", headers=JSON, body=json.dumps({"agency_id": "demo"})
    ).json_body
    headers = {**JSON, "X-Session-Token": opened["session_token"]}
    path = f"/chat/sessions/{opened['session_id']}/messages"
    client.http.post(
        path, headers=headers, body=json.dumps({"text": "Uno", "idempotency_key": "k"})
    )

    response = client.http.post(
        path, headers=headers, body=json.dumps({"text": "Dos", "idempotency_key": "k"})
    )

    assert response.status_code == 409
    assert response.json_body["error"]["field"] == "idempotency_key"
