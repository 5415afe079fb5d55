"""Cost scenarios of Connect's contact events, contact records and the phone report.

benchmarks/aws_calls.py prints them and tests/functional/test_cost_streams.py
asserts them. Each scenario sets up what it needs through the Chalice test client,
then counts only the event under measurement. "Warm" means an earlier event of the
same function filled its agency cache, as in a Lambda container that already served
one event: every Chalice event handler is its own Lambda function.
"""

import base64
import copy
import json
from pathlib import Path
from typing import Any

from tests.support_calls import AwsCallLog, count_aws_calls

EVENTS_DIR = Path(__file__).with_name("events")
CALLER = "+525541637145"
CALL_ID = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"
WARMING_CALL_ID = "0a7c3e51-9d2b-4f68-8e1a-2b5c7d9f3e02"
WARMING_RECORD = "contact_record_abandoned_in_ivr"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def contact_event(name: str, contact_id: str = CALL_ID, with_caller: bool = False) -> dict:
    """Load a contact event sample for `contact_id`, with its customer endpoint or without."""
    event = load(name)
    detail = event["detail"]
    detail.update(contactId=contact_id, initialContactId=contact_id)
    if with_caller:
        detail["customerEndpoint"] = {"address": CALLER, "type": "TELEPHONE_NUMBER"}
    else:
        detail.pop("customerEndpoint", None)
    return event


def kinesis_event(*documents: dict) -> dict:
    records = []
    for index, document in enumerate(documents, start=1):
        data = base64.b64encode(json.dumps(document).encode()).decode("ascii")
        sequence_number = f"4959{index:040d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": document.get("ContactId", "agent"),
                    "sequenceNumber": sequence_number,
                    "data": data,
                    "approximateArrivalTimestamp": 1772463600.5,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence_number}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": (
                    "arn:aws:kinesis:us-east-1:123456789012:stream/ventanilla-test-contact-records"
                ),
            }
        )
    return {"Records": records}


def send_event(client: Any, event: dict) -> None:
    client.lambda_.invoke("connect_contact_events", copy.deepcopy(event))


def send_records(client: Any, *documents: dict) -> dict:
    return client.lambda_.invoke("connect_contact_records", kinesis_event(*documents)).payload


def new_container() -> None:
    from chalicelib import agencies

    agencies.clear_cache()


def known_caller(client: Any, agency: dict) -> None:
    """Make CALLER a verified number with an SMS; the caller stubs SendTextMessage."""
    message = {
        "originationNumber": CALLER,
        "destinationNumber": agency["sms_number"],
        "messageBody": "Hay una fuga de agua en mi calle",
        "inboundMessageId": "sms-1",
    }
    event = client.events.generate_sns_event(message=json.dumps(message))
    client.lambda_.invoke("inbound_sms", event)


def identify(client: Any, agency: dict) -> None:
    event = {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "ContactId": CALL_ID,
                "InitialContactId": CALL_ID,
                "Channel": "VOICE",
                "InstanceARN": agency["connect_instance_arn"],
                "InitiationMethod": "INBOUND",
                "CustomerEndpoint": {"Address": CALLER, "Type": "TELEPHONE_NUMBER"},
                "Attributes": {},
            },
            "Parameters": {"action": "identify"},
        },
    }
    client.lambda_.invoke("connect_contact_flow", event)


def recorded_call(client: Any, agency: dict) -> None:
    """Record a known caller's call through identify, as the contact flow does."""
    known_caller(client, agency)
    identify(client, agency)


def warm_contact_events(client: Any) -> None:
    new_container()
    send_event(client, contact_event("contact_event_initiated", contact_id=WARMING_CALL_ID))


def warm_contact_records(client: Any) -> None:
    new_container()
    send_records(client, load(WARMING_RECORD))


def event_of_recorded_call(client: Any, agency: dict) -> AwsCallLog:
    recorded_call(client, agency)
    warm_contact_events(client)
    with count_aws_calls() as log:
        send_event(client, contact_event("contact_event_queued"))
    return log


def repeated_event(client: Any, agency: dict) -> AwsCallLog:
    recorded_call(client, agency)
    warm_contact_events(client)
    send_event(client, contact_event("contact_event_queued"))
    with count_aws_calls() as log:
        send_event(client, contact_event("contact_event_queued"))
    return log


def event_before_identify(client: Any, agency: dict) -> AwsCallLog:
    known_caller(client, agency)
    warm_contact_events(client)
    with count_aws_calls() as log:
        send_event(client, contact_event("contact_event_initiated", with_caller=True))
    return log


def first_record(client: Any, agency: dict) -> AwsCallLog:
    recorded_call(client, agency)
    warm_contact_records(client)
    with count_aws_calls() as log:
        send_records(client, load("contact_record_answered"))
    return log


def resent_record(client: Any, agency: dict) -> AwsCallLog:
    recorded_call(client, agency)
    warm_contact_records(client)
    send_records(client, load("contact_record_answered"))
    with count_aws_calls() as log:
        send_records(client, load("contact_record_answered_resent"))
    return log


def older_record(client: Any, agency: dict) -> AwsCallLog:
    recorded_call(client, agency)
    warm_contact_records(client)
    send_records(client, load("contact_record_answered_resent"))
    with count_aws_calls() as log:
        send_records(client, load("contact_record_answered"))
    return log


def ivr_choice(client: Any, agency: dict) -> AwsCallLog:
    from chalicelib.agencies import get_agency
    from chalicelib.reports.phone import record_ivr_choice

    new_container()
    get_agency(agency["agency_id"])
    with count_aws_calls() as log:
        record_ivr_choice(agency["agency_id"], None, "2026-03-02T15:04:05Z", "deflected", CALL_ID)
    return log


def phone_report(client: Any, agency: dict, headers: dict[str, str]) -> AwsCallLog:
    """Read one week of the phone report twice, counting the second (warm) request."""
    path = f"/reports/agencies/{agency['agency_id']}/phone?from=2026-03-01&to=2026-03-07"
    send_records(client, load("contact_record_answered"))
    client.http.get(path, headers=headers)
    with count_aws_calls() as log:
        response = client.http.get(path, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"the phone report returned {response.status_code}")
    return log
