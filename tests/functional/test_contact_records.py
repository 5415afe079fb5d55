"""Connect contact records from Kinesis (`connect_contact_records`), over moto.

The samples under tests/events/contact_record_*.json are contact records as the
Connect data model documents them (PascalCase, timestamps to the second), and
agent_event_state_change.json is an agent event record that an instance streams
to the same place. Each reaches the handler base64-encoded in a Kinesis event.
"""

import base64
import copy
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import get_item, items_of_kind

EVENTS_DIR = Path(__file__).parent.parent / "events"
PARKED_QUEUE = "ventanilla-test-parked-contact-records"
ANSWERED = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
ABANDONED_IN_QUEUE = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"
ABANDONED_IN_IVR = "c4e6a8b0-2d4f-4a6c-8e0a-4c6e8a0c2e13"
TASK = "2b7e9c41-5d3a-4f8b-a1c2-3d4e5f6a7b03"
QUEUE_ID = "5c1d7a2e-3b4f-4c6d-8e9f-0a1b2c3d4e50"
CALLER = "+525541637145"
DAY = "2026-03-02"


def document(name, **changes):
    loaded = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    loaded.update(changes)
    return loaded


def kinesis_record(data, sequence_number):
    """Return one Kinesis record of a Lambda event; `data` is a document or raw bytes."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "contact",
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(raw).decode("ascii"),
            "approximateArrivalTimestamp": 1772463600.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/ventanilla-test",
        "awsRegion": "us-east-1",
        "eventSourceARN": (
            "arn:aws:kinesis:us-east-1:123456789012:stream/ventanilla-test-contact-records"
        ),
    }


def kinesis_event(*items):
    """Return a Kinesis event of documents, raw bytes or ready records, numbered in order."""
    records = []
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict) and "kinesis" in item:
            records.append(item)
        else:
            records.append(kinesis_record(item, f"4959{index:040d}"))
    return {"Records": records}


def send(client, *items):
    return client.lambda_.invoke("connect_contact_records", copy.deepcopy(kinesis_event(*items)))


def stored_record(contact_id):
    return get_item(f"CTR#{contact_id}", "RECORD")


def figures(day=DAY, queue_id=QUEUE_ID):
    return get_item("PHONE#demo", f"DAY#{day}#QUEUE#{queue_id}")


def parked_messages():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=PARKED_QUEUE)["QueueUrl"]
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return response.get("Messages", [])


def call_legs():
    calls = [item for item in items_of_kind("CITIZEN#", "CONTACT#") if item["kind"] == "call"]
    return {leg_id: leg for call in calls for leg_id, leg in call["call_legs"].items()}


def test_records_mixed_batch_recorded_and_isolated(client, log_lines):
    send(
        client,
        document("contact_record_answered"),
        document("contact_record_answered_resent"),
        # The first copy again, older than the re-sent one, arriving after it.
        document("contact_record_answered"),
        document("contact_record_abandoned_in_ivr"),
        document("agent_event_state_change"),
        b"{not json",
        document("contact_record_abandoned_in_queue"),
    )

    assert stored_record(ANSWERED)["last_update_timestamp"] == "2026-03-02T16:02:44.000Z"
    assert stored_record(ANSWERED)["hold_seconds"] == 90
    assert stored_record(ABANDONED_IN_IVR) is not None
    assert stored_record(ABANDONED_IN_QUEUE) is not None
    (parked,) = parked_messages()
    assert parked["MessageAttributes"]["reason"]["StringValue"] == "invalid_record"
    assert json.loads(parked["Body"])["Records"][0]["kinesis"]["sequenceNumber"].endswith("06")
    (summary,) = [line for line in log_lines if line["message"] == "contact records handled"]
    assert summary["outcomes"] == {
        "recorded": 3,
        "corrected": 1,
        "stale": 1,
        "agent_event": 1,
        "parked": 1,
    }


def test_records_contact_counted_once(client):
    send(client, document("contact_record_answered"))
    send(client, document("contact_record_answered"), document("contact_record_answered_resent"))
    send(client, document("contact_record_answered_resent"), document("contact_record_answered"))

    row = figures()
    assert row["inbound_calls"] == 1
    assert row["offered"] == 1
    assert row["answered"] == 1
    assert row["wait_seconds_total"] == 102
    # 308 s of interaction, 90 s on hold (the re-sent record) and 90 s of after contact work.
    assert row["handle_seconds_total"] == 488
    assert sum(value for name, value in row.items() if name.startswith("handle_")) - 488 == 1


def test_records_resent_correction_moves_counts(client):
    abandoned = document("contact_record_abandoned_in_queue")
    answered = document(
        "contact_record_abandoned_in_queue",
        LastUpdateTimestamp="2026-03-02T15:30:00Z",
        Agent=document("contact_record_answered")["Agent"],
    )

    send(client, abandoned)
    send(client, answered)

    row = figures()
    assert row["offered"] == 1
    assert row["answered"] == 1
    assert row["abandoned_in_queue"] == 0
    assert stored_record(ABANDONED_IN_QUEUE)["counted"]["answered"] == 1


def test_records_resent_to_other_queue_moves_row(client):
    first = document("contact_record_abandoned_in_queue")
    moved = copy.deepcopy(first)
    moved["LastUpdateTimestamp"] = "2026-03-02T15:30:00Z"
    moved["Queue"]["ARN"] = moved["Queue"]["ARN"].replace(QUEUE_ID, "queue-licencias")
    moved["Queue"]["Name"] = "Licencias"

    send(client, first, moved)

    assert figures()["offered"] == 0
    assert figures()["abandoned_in_queue"] == 0
    assert figures(queue_id="queue-licencias")["offered"] == 1
    assert figures(queue_id="queue-licencias")["queue_name"] == "Licencias"


def test_records_abandoned_in_ivr_counted(client):
    send(client, document("contact_record_abandoned_in_ivr"))

    row = figures(queue_id="-")
    assert row["abandoned_in_ivr"] == 1
    assert row["inbound_calls"] == 1
    assert "offered" not in row


def test_records_task_recorded_not_counted(client):
    send(client, document("contact_record_task_without_media_streams"))

    stored = stored_record(TASK)
    assert stored["channel"] == "TASK"
    assert "counted" not in stored
    assert items_of_kind("PHONE#") == []


def test_records_duplicate_writes_nothing(client):
    send(client, document("contact_record_answered"))
    before = (stored_record(ANSWERED), figures())

    send(client, document("contact_record_answered"))

    assert (stored_record(ANSWERED), figures()) == before


def test_records_put_call_on_timeline(client):
    send(client, document("contact_record_answered"))
    send(client, document("contact_record_answered_resent"))

    leg = call_legs()[ANSWERED]
    assert leg["status"] == "completed"
    assert leg["queue_name"] == "Atención ciudadana"
    assert leg["queue_seconds"] == 102
    assert leg["agent_interaction_seconds"] == 308
    assert leg["hold_seconds"] == 90
    assert leg["attributes"] == {"tramite": "bache", "idioma": "es", "encuesta": "5"}
    assert leg["disconnect_reason"] == "CUSTOMER_DISCONNECT"
    (claim,) = items_of_kind(f"IDENTITY#phone#{CALLER}", "CLAIM#")
    assert stored_record(ANSWERED)["timeline_citizen_id"] == claim["citizen_id"]


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (b"\xff\xfe not json", "invalid_record", "kinesis.data"),
        ({"ContactId": ANSWERED}, "invalid_record", "Channel"),
        (
            {**json.loads((EVENTS_DIR / "contact_record_answered.json").read_text()), "Queue": 5},
            "invalid_record",
            "Queue",
        ),
    ],
    ids=["not json", "missing fields", "queue not an object"],
)
def test_records_malformed_record_parked(client, data, reason, field):
    send(client, data, document("contact_record_abandoned_in_ivr"))

    (parked,) = parked_messages()
    assert parked["MessageAttributes"]["reason"]["StringValue"] == reason
    assert parked["MessageAttributes"]["field"]["StringValue"] == field
    assert stored_record(ABANDONED_IN_IVR) is not None


def test_records_not_base64_parked(client):
    record = kinesis_record(b"", "49590001")
    record["kinesis"]["data"] = "%%% not base64 %%%"

    send(client, record, document("contact_record_abandoned_in_ivr"))

    (parked,) = parked_messages()
    assert parked["MessageAttributes"]["field"]["StringValue"] == "kinesis.data"
    assert stored_record(ABANDONED_IN_IVR) is not None


def test_records_parked_record_replays(client, demo_agency):
    unknown = "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-00000000beef"
    send(client, document("contact_record_answered", InstanceARN=unknown))
    (parked,) = parked_messages()
    assert parked["MessageAttributes"]["reason"]["StringValue"] == "unknown_instance"
    assert stored_record(ANSWERED) is None

    from chalicelib import agencies
    from chalicelib.store.models import AgencyEndpoint, endpoint_key

    AgencyEndpoint(
        endpoint_key("connect", unknown), "AGENCY", agency_id="demo", kind="connect", value=unknown
    ).save()
    agencies.clear_cache()
    client.lambda_.invoke("connect_contact_records", json.loads(parked["Body"]))

    assert stored_record(ANSWERED)["agency_id"] == "demo"
    assert figures()["answered"] == 1


def test_records_dynamodb_failure_parks_one(client, monkeypatch):
    from chalicelib.reports import contact_records

    record_contact = contact_records.record_contact

    def failing(record):
        if record.contact_id == ANSWERED:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "TransactWriteItems")
        return record_contact(record)

    monkeypatch.setattr(contact_records, "record_contact", failing)

    send(client, document("contact_record_answered"), document("contact_record_abandoned_in_ivr"))

    (parked,) = parked_messages()
    assert parked["MessageAttributes"]["reason"]["StringValue"] == "unavailable"
    assert parked["MessageAttributes"]["error_type"]["StringValue"] == "ClientError"
    assert stored_record(ABANDONED_IN_IVR) is not None


def test_records_parking_failure_fails_batch(client):
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=PARKED_QUEUE)["QueueUrl"])

    from chalicelib.channels.connect_records import ParkingError

    with pytest.raises(ParkingError):
        send(client, b"{not json")


def test_records_logs_ids_only(client, log_lines):
    send(
        client,
        document("contact_record_answered"),
        document("agent_event_state_change"),
        b'{"ContactId": "x", "CustomerEndpoint": {"Address": "+525541637145"}}',
    )

    text = json.dumps(log_lines, ensure_ascii=False)
    assert CALLER not in text
    assert CALLER[3:] not in text
    assert "Ana" not in text
    assert "bache" not in text


def emf_documents(output):
    return [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]


def test_records_emit_emf_per_agency_and_queue(client, capsys):
    send(
        client,
        document("contact_record_answered"),
        document("contact_record_answered_resent"),
        document("contact_record_abandoned_in_queue"),
        document("contact_record_abandoned_in_ivr"),
        document("agent_event_state_change"),
    )

    documents = emf_documents(capsys.readouterr().out)
    by_queue = {doc.get("queue"): doc for doc in documents if "agency" in doc}
    assert set(by_queue) == {"Atención ciudadana", "none"}
    queue = by_queue["Atención ciudadana"]
    (directive,) = queue["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Ventanilla"
    assert directive["Dimensions"] == [["agency", "queue", "service"]]
    assert queue["agency"] == "demo"
    # powertools writes each metric as a list of values.
    assert queue["CallsOffered"] == [2.0]
    assert queue["CallsAnswered"] == [1.0]
    assert queue["CallsAbandonedInQueue"] == [1.0]
    assert sorted(queue["TimeInQueue"]) == [102.0, 130.0]
    # The handle time of the first record: the re-sent one corrects the report, not metrics.
    assert queue["HandleTime"] == [428.0]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units["TimeInQueue"] == "Seconds"
    assert units["CallsOffered"] == "Count"
    assert by_queue["none"]["CallsAbandonedInIvr"] == [1.0]
    (batch,) = [doc for doc in documents if "agency" not in doc]
    assert batch["ContactRecordsRecorded"] == [3.0]
    assert batch["ContactRecordsCorrected"] == [1.0]
    assert batch["AgentEventsSkipped"] == [1.0]


def test_records_row_conflict_is_retried(client, monkeypatch):
    from chalicelib.reports import phone
    from chalicelib.store.transactions import Transaction, TransactionConflictError

    commit = Transaction.commit
    failures = []

    def conflict_once(transaction):
        tags = [operation[1] for operation in transaction._operations]
        if not failures and any(tag.startswith("figures") for tag in tags):
            failures.append(1)
            raise TransactionConflictError(["figures (concurrent write)"])
        commit(transaction)

    monkeypatch.setattr(Transaction, "commit", conflict_once)
    monkeypatch.setattr(phone.time, "sleep", lambda seconds: None)

    send(client, document("contact_record_abandoned_in_queue"))

    assert failures == [1]
    assert figures()["abandoned_in_queue"] == 1
    assert parked_messages() == []
