"""The local stack's Graph API stand-in: WhatsApp Cloud API and Messenger sends in the outbox."""

import json

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from infra.local.outbox import GRAPH_PATH, OUTBOX_PATH, Outbox, OutboxMiddleware

TOKEN = {"Authorization": "Bearer dev-token"}


def moto_stand_in(environ, start_response):
    return Response("moto", status=200)(environ, start_response)


@pytest.fixture
def client(tmp_path):
    return Client(OutboxMiddleware(moto_stand_in, Outbox(tmp_path / "outbox.jsonl")))


def post(client, path, body, headers=TOKEN):
    return client.post(f"{GRAPH_PATH}{path}", json=body, headers=headers)


def recorded(client):
    return client.get(OUTBOX_PATH).get_json()["messages"]


def test_graph_whatsapp_send_is_recorded(client):
    message = {"messaging_product": "whatsapp", "to": "525541637145", "type": "text"}
    message["text"] = {"body": "Caso 482-193-058 registrado."}

    response = post(client, "/v23.0/271093650481234/messages", message)

    answer = response.get_json()
    assert response.status_code == 200
    assert answer["messages"][0]["id"].startswith("wamid.")
    (item,) = recorded(client)
    assert item["channel"] == "whatsapp"
    assert item["destination"] == "525541637145"
    assert item["origination"] == "271093650481234"
    assert item["body"] == "Caso 482-193-058 registrado."
    assert item["message_id"] == answer["messages"][0]["id"]


def test_graph_messenger_send_is_recorded(client):
    body = {"recipient": {"id": "6543210987654321"}, "messaging_type": "RESPONSE"}
    body["message"] = {"text": "Con gusto le ayudamos."}

    response = post(client, "/v23.0/me/messages", body)

    answer = response.get_json()
    assert answer["recipient_id"] == "6543210987654321"
    (item,) = recorded(client)
    assert item["channel"] == "messenger"
    assert item["message_id"] == answer["message_id"]
    assert item["details"] == {"messaging_type": "RESPONSE"}


def test_graph_send_without_token_is_401(client):
    response = post(client, "/v23.0/me/messages", {"recipient": {"id": "1"}}, headers={})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == 190
    assert recorded(client) == []


def test_graph_invalid_body_is_400(client):
    response = post(client, "/v23.0/271093650481234/messages", {"type": "text"})

    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "to is required"


def test_graph_other_path_is_404(client):
    response = client.get(f"{GRAPH_PATH}/v23.0/me", headers=TOKEN)

    assert response.status_code == 404


def test_graph_send_appends_outbox_file(client, tmp_path):
    post(client, "/v23.0/me/messages", {"recipient": {"id": "1"}, "message": {"text": "Hola"}})

    (line,) = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["body"] == "Hola"


def test_other_requests_reach_moto(client):
    assert client.get("/").get_data(as_text=True) == "moto"
