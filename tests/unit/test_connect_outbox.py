"""The local stack's stand-in for Connect's StartTaskContact: callback tasks in the outbox."""

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from infra.local.outbox import OUTBOX_PATH, Outbox, OutboxMiddleware

# What botocore signs a Connect request with; the outbox reads only the service name.
SIGNED = {
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/connect/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0000"
    )
}
TASK = {
    "InstanceId": "0c0d0e0f-0000-4000-8000-00000000d3e0",
    "ContactFlowId": "7e3b1c2d-4a5f-4b6c-8d7e-9f0a1b2c3d4e",
    "PreviousContactId": "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01",
    "Name": "Devolver llamada",
    "Description": "Llamar al +525541637145.",
    "Attributes": {"callback_number": "+525541637145", "callback_queue_arn": "arn:queue"},
    "References": {"callback_number": {"Value": "+525541637145", "Type": "STRING"}},
    "ClientToken": "ventanilla-callback-5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01",
}


def moto_stand_in(environ, start_response):
    return Response("moto", status=200)(environ, start_response)


@pytest.fixture
def client(tmp_path):
    return Client(OutboxMiddleware(moto_stand_in, Outbox(tmp_path / "outbox.jsonl")))


def start_task(client, body):
    return client.put("/contact/task", json=body, headers=SIGNED)


def recorded(client):
    return client.get(OUTBOX_PATH).get_json()["messages"]


def test_task_outbox_records_callback(client):
    response = start_task(client, TASK)

    (item,) = recorded(client)
    assert response.status_code == 200
    assert response.get_json() == {"ContactId": item["message_id"]}
    assert item["channel"] == "task"
    assert item["operation"] == "StartTaskContact"
    assert item["destination"] == "+525541637145"
    assert item["origination"] == "arn:queue"
    assert item["body"] == "Devolver llamada: Llamar al +525541637145."
    assert item["details"]["ContactFlowId"] == TASK["ContactFlowId"]
    assert item["details"]["PreviousContactId"] == TASK["PreviousContactId"]


def test_task_outbox_repeated_token_returns_same_contact(client):
    first = start_task(client, TASK).get_json()
    second = start_task(client, TASK).get_json()
    other = start_task(client, {**TASK, "ClientToken": "another-token"}).get_json()

    assert second == first
    assert other != first
    assert len(recorded(client)) == 2


def test_task_outbox_rejects_task_without_flow(client):
    body = {key: value for key, value in TASK.items() if key != "ContactFlowId"}

    response = start_task(client, body)

    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert recorded(client) == []


def test_task_outbox_leaves_unsigned_requests_to_moto(client):
    response = client.put("/contact/task", json=TASK)

    assert response.get_data(as_text=True) == "moto"
    assert recorded(client) == []
