"""Helpers of the appointment tests: slots, bookings, citizens with channels, flow events."""

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.clock import isoformat_z
from tests import support
from tests.support_notify import link_identity, set_agency, set_last_inbound, set_profile

SERVICE = "licencias"
OFFICE = "centro"
WHATSAPP_ID = "+525541637145"
PHONE = "+525541637145"


def appointment_settings(**changes: Any) -> dict:
    """Return the demo agency's appointment settings with `changes` applied."""
    from infra.local.seed import DEMO_APPOINTMENTS

    return {**copy.deepcopy(DEMO_APPOINTMENTS), **changes}


def configure(answer_wait_seconds: float = 30, quiet_hours: Any = None, **changes: Any) -> None:
    """Set the demo agency's reminder settings; without quiet hours unless given."""
    calendar = {"quiet_hours": quiet_hours}
    hours = Decimal(str(answer_wait_seconds)) / 3600
    settings = appointment_settings(answer_wait_hours=hours, calendar=calendar, **changes)
    set_agency("demo", appointments=settings)


def put_slot(
    starts_at: datetime,
    capacity: int = 2,
    service: str = SERVICE,
    office: str = OFFICE,
    booked: int = 0,
) -> str:
    """Write a slot of the demo agency and return its start as the API spells it."""
    start = isoformat_z(starts_at)
    support.table().put_item(
        Item={
            "pk": "AGENCY#demo",
            "sk": f"SLOT#{service}#{office}#{start}",
            "agency_id": "demo",
            "service": service,
            "office": office,
            "starts_at": start,
            "ends_at": isoformat_z(starts_at + timedelta(minutes=30)),
            "capacity": capacity,
            "booked": booked,
        }
    )
    return start


def in_hours(hours: float) -> datetime:
    """Return a whole-second UTC time `hours` from now."""
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


def slot(start: str, service: str = SERVICE, office: str = OFFICE) -> dict:
    return support.get_item("AGENCY#demo", f"SLOT#{service}#{office}#{start}")


def book_form(client: Any, starts_at: str, **fields: Any) -> Any:
    body = {
        "agency_id": "demo",
        "service": SERVICE,
        "office": OFFICE,
        "starts_at": starts_at,
        "name": "Ana López",
        "phone": "55 4163 7145",
        "language": "es",
        **fields,
    }
    return support.post_json(client, "/appointments", body)


def booked(client: Any, starts_at: str, **fields: Any) -> dict:
    """Book on the web form, failing the test unless the API returns 201; return the case."""
    response = book_form(client, starts_at, **fields)
    assert response.status_code == 201, response.json_body
    digits = response.json_body["case_reference"].replace("-", "")
    return {**support.case_of_reference(digits), "response": response.json_body}


def give_channels(case: dict, *kinds: str, preferred: str | None = None) -> None:
    """Link verified WhatsApp and SMS identities to a case's citizen, as an agent's merge
    leaves them, with the case as their open case and WhatsApp's window open."""
    citizen_id = case["citizen_id"]
    for channel in kinds:
        kind, value = ("whatsapp", WHATSAPP_ID) if channel == "whatsapp" else ("phone", PHONE)
        link_identity(citizen_id, kind, value)
        support.table().update_item(
            Key={"pk": f"IDENTITY#{kind}#{value}", "sk": "LINK"},
            UpdateExpression="SET open_cases.#agency = :entry",
            ExpressionAttributeNames={"#agency": "demo"},
            ExpressionAttributeValues={
                ":entry": {
                    "case_id": case["case_id"],
                    "reference": case["reference"],
                    "last_activity_at": case["last_activity_at"],
                }
            },
        )
        set_last_inbound(kind, value, "demo", hours_ago=1)
    if preferred:
        set_profile(citizen_id, preferred_channel=preferred)


def appointment(case_id: str) -> dict:
    return support.get_item(f"CASE#{case_id}", "APPOINTMENT")


def run(case_id: str) -> dict:
    return support.get_item(f"CASE#{case_id}", "WORKFLOW#appointment_reminder#1")


def wait_item(citizen_id: str, case_id: str) -> dict | None:
    return support.get_item(f"CITIZEN#{citizen_id}", f"WAIT#demo#{case_id}#appointment_reminder")


def steps(citizen_id: str) -> list[tuple[str, str]]:
    """Return the reminder's timeline steps, oldest first, as (step, channel)."""
    return [
        (item["workflow_step"], item["channel"])
        for item in support.timeline(citizen_id)
        if item.get("kind") == "workflow"
    ]


def sms_reply(text: str, message_id: str, phone: str = PHONE) -> dict:
    """Return the sample follow-up SMS from `phone` with another text and ids."""
    return support.sms_event(
        "sms_follow_up",
        sns_message_id=f"sns-{message_id}",
        messageBody=text,
        inboundMessageId=message_id,
        originationNumber=phone,
        messageKeyword="",
    )


def flow_event(action: str, reference: str, caller: str = PHONE) -> dict:
    event = support.load_event(f"connect_{action}_keyed")
    event["Details"]["Parameters"]["case_reference"] = reference
    event["Details"]["ContactData"]["CustomerEndpoint"]["Address"] = caller
    return event


def whatsapp_button(choice: str, message_id: str) -> bytes:
    """Return the sample WhatsApp reply button event with the reminder's button id."""
    payload = support.load_event("whatsapp_button_reply")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = message_id
    message["interactive"]["button_reply"]["id"] = choice
    return json.dumps(payload).encode()
