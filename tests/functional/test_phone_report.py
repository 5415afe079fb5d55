"""The phone figures of a small synthetic day, checked against figures worked out by hand.

The demo agency is in America/Mexico_City (UTC-6 in March 2026), so its 2 March
runs from 2026-03-02T06:00Z to 2026-03-03T06:00Z. Every contact below is an
inbound voice contact built from tests/events/contact_record_answered.json, and
reaches the handler through a Kinesis event. The contact flow's choices come
through record_ivr_choice.
"""

import copy
import json

import pytest

from tests.functional.test_contact_records import document, send

INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
CITIZENS = "5c1d7a2e-3b4f-4c6d-8e9f-0a1b2c3d4e50"
LICENSES = "7e3f9b4c-5d6a-4e8b-9c0d-1e2f3a4b5c61"
QUEUE_NAMES = {CITIZENS: "Atención ciudadana", LICENSES: "Licencias"}
REPORT = "/reports/agencies/demo/phone"


def contact(
    contact_id,
    *,
    queue=CITIZENS,
    wait=None,
    handle=None,
    started="2026-03-02T15:00:00Z",
    method="INBOUND",
    reason="CUSTOMER_DISCONNECT",
    next_contact=None,
    updated="2026-03-02T18:00:00Z",
    channel="VOICE",
):
    """Build a contact record. `handle` is (interaction, hold, after contact work) seconds."""
    record = document("contact_record_answered")
    record.update(
        ContactId=contact_id,
        InitiationTimestamp=started,
        InitiationMethod=method,
        DisconnectReason=reason,
        NextContactId=next_contact,
        LastUpdateTimestamp=updated,
        Channel=channel,
        CustomerEndpoint=None,
    )
    if queue is None:
        record["Queue"] = None
    else:
        record["Queue"] = {
            "ARN": f"{INSTANCE}/queue/{queue}",
            "Name": QUEUE_NAMES[queue],
            "EnqueueTimestamp": started,
            "Duration": wait,
        }
    if handle is None:
        record["Agent"] = None
    else:
        interaction, hold, after_work = handle
        record["Agent"].update(
            AgentInteractionDuration=interaction,
            CustomerHoldDuration=hold,
            AfterContactWorkDuration=after_work,
        )
    return record


def synthetic_day():
    """Return the day's contact records in the order they arrive, re-sends included."""
    c01 = contact("c01", wait=20, handle=(240, 30, 30), updated="2026-03-02T15:10:00Z")
    c01_resent = copy.deepcopy(c01)
    c01_resent["LastUpdateTimestamp"] = "2026-03-02T16:10:00Z"
    c01_resent["Agent"]["CustomerHoldDuration"] = 90
    c08 = contact("c08", queue=LICENSES, wait=400, updated="2026-03-02T15:20:00Z")
    c08_answered = contact("c08", queue=LICENSES, wait=400, handle=(500, 40, 60))
    return [
        c01,
        contact("c02", wait=45, handle=(150, 0, 30)),
        contact("c03", wait=75, handle=(400, 20, 60)),
        contact("c03", wait=75, handle=(400, 20, 60)),
        contact("c04", wait=130),
        # 23:30 local time on 2 March, although 3 March in UTC.
        contact("c05", wait=8, handle=(100, 0, 20), started="2026-03-03T05:30:00Z"),
        contact("c06", wait=30, reason="TRANSFER", next_contact="c07"),
        contact("c07", queue=LICENSES, wait=12, handle=(170, 10, 20), method="TRANSFER"),
        c08,
        contact("c09", queue=None),
        contact("c10", queue=None, reason="CONTACT_FLOW_DISCONNECT"),
        contact("c11", wait=60, reason="CONTACT_FLOW_DISCONNECT"),
        contact("c12", wait=5, handle=(60, 0, 0), method="CALLBACK"),
        contact("c13", queue=None, channel="TASK", method="API"),
        # 23:30 local time on 1 March.
        contact("c14", wait=5, handle=(90, 0, 10), started="2026-03-02T05:30:00Z"),
        c01_resent,
        c08_answered,
        # An older copy of c01, after the re-sent one.
        c01,
    ]


@pytest.fixture
def recorded_day(client):
    from chalicelib.reports.phone import record_ivr_choice

    records = synthetic_day()
    send(client, *records[:9])
    send(client, *records[9:])
    record_ivr_choice("demo", None, "2026-03-02T16:00:30Z", "deflected", "c10")
    record_ivr_choice(
        "demo", f"{INSTANCE}/queue/{CITIZENS}", "2026-03-02T16:01:00Z", "callback_requested", "c11"
    )
    record_ivr_choice(
        "demo", f"{INSTANCE}/queue/{CITIZENS}", "2026-03-02T16:01:02Z", "callback_requested", "c11"
    )


@pytest.fixture
def supervisor(agent_tokens):
    return agent_tokens.headers(roles=("supervisor",))


def get_report(client, headers, query="from=2026-03-01&to=2026-03-02"):
    return client.http.get(f"{REPORT}?{query}", headers=headers)


def estimate(seconds, low, high, error):
    return {"seconds": seconds, "from_seconds": low, "to_seconds": high, "max_error_seconds": error}


def test_report_synthetic_day_matches_hand_count(client, recorded_day, supervisor):
    response = get_report(client, supervisor)

    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    march_1, march_2 = body["days"]
    assert march_2["date"] == "2026-03-02"
    queues = {queue["queue_id"]: queue for queue in march_2["queues"]}
    assert set(queues) == {CITIZENS, LICENSES, None}

    # Citizens' queue: c01 c02 c03 c05 answered, c04 abandoned, c06 (transferred)
    # and c11 (the flow ended it after the callback request) ended otherwise.
    citizens = queues[CITIZENS]
    assert citizens["queue_name"] == "Atención ciudadana"
    assert citizens["inbound_calls"] == 7
    assert citizens["offered"] == 7
    assert citizens["answered"] == 4
    assert citizens["abandoned_in_queue"] == 1
    assert citizens["ended_in_queue"] == 2
    assert citizens["callbacks"] == 1
    # Waits 8 20 30 45 60 75 130: the median (4th) is 45 s in [45, 50), the 90th
    # percentile (7th) 130 s in [120, 135). Their sum is 368 s.
    waits = citizens["time_in_queue"]
    assert waits["count"] == 7
    assert waits["average_seconds"] == 52.6
    assert waits["median"] == estimate(47.5, 45, 50, 2.5)
    assert waits["p90"] == estimate(127.5, 120, 135, 7.5)
    # Handle times 120 180 360 (c01 re-sent: 240 + 90 + 30) 480: the median (2nd) is
    # 180 s in [180, 195).
    handling = citizens["handle_time"]
    assert handling["count"] == 4
    assert handling["average_seconds"] == 285.0
    assert handling["median"] == estimate(187.5, 180, 195, 7.5)

    # Licences: c07 (a transfer, not an inbound call) and c08, whose re-sent record
    # turned an abandoned call into an answered one.
    licenses = queues[LICENSES]
    assert licenses["inbound_calls"] == 1
    assert licenses["offered"] == 2
    assert licenses["answered"] == 2
    assert licenses["abandoned_in_queue"] == 0
    assert licenses["time_in_queue"]["median"] == estimate(12.5, 10, 15, 2.5)
    assert licenses["time_in_queue"]["p90"] == estimate(390.0, 360, 420, 30.0)
    # Handle times 200 and 600: the median (1st) is 200 s in [195, 210).
    assert licenses["handle_time"]["median"] == estimate(202.5, 195, 210, 7.5)

    # No queue: c09 hung up in the IVR, the flow ended c10 after sending it a link.
    ivr = queues[None]
    assert ivr["queue_arn"] is None
    assert ivr["inbound_calls"] == 2
    assert ivr["abandoned_in_ivr"] == 1
    assert ivr["ended_in_ivr"] == 1
    assert ivr["deflected"] == 1
    assert ivr["offered"] == 0

    totals = march_2["totals"]
    assert totals["inbound_calls"] == 10
    assert totals["offered"] == 9
    assert totals["answered"] == 6
    assert totals["abandoned_in_queue"] == 1
    assert totals["ended_in_queue"] == 2
    assert totals["abandoned_in_ivr"] == 1
    assert totals["ended_in_ivr"] == 1
    assert totals["callbacks"] == 1
    assert totals["deflected"] == 1
    assert totals["deflected_share"] == 0.1
    # Waits 8 12 20 30 45 60 75 130 400: median (5th) 45 s, 90th percentile (9th) 400 s.
    assert totals["time_in_queue"]["median"] == estimate(47.5, 45, 50, 2.5)
    assert totals["time_in_queue"]["p90"] == estimate(390.0, 360, 420, 30.0)
    # Handle times 120 180 200 360 480 600: the median (3rd) is 200 s.
    assert totals["handle_time"]["median"] == estimate(202.5, 195, 210, 7.5)

    # 1 March: c14 only.
    assert march_1["date"] == "2026-03-01"
    assert march_1["totals"]["inbound_calls"] == 1
    assert march_1["totals"]["answered"] == 1
    assert march_1["totals"]["time_in_queue"]["median"] == estimate(7.5, 5, 10, 2.5)
    assert body["totals"]["inbound_calls"] == 11
    assert body["totals"]["answered"] == 7


def test_report_states_error_bounds(client, supervisor):
    body = json.loads(get_report(client, supervisor).body)

    assert body["percentiles"]["tiers"] == [
        {"from_seconds": 0, "to_seconds": 60, "width_seconds": 5, "max_error_seconds": 2.5},
        {"from_seconds": 60, "to_seconds": 300, "width_seconds": 15, "max_error_seconds": 7.5},
        {"from_seconds": 300, "to_seconds": 1200, "width_seconds": 60, "max_error_seconds": 30.0},
        {
            "from_seconds": 1200,
            "to_seconds": 3600,
            "width_seconds": 300,
            "max_error_seconds": 150.0,
        },
        {
            "from_seconds": 3600,
            "to_seconds": None,
            "width_seconds": None,
            "max_error_seconds": None,
        },
    ]
    assert "midpoint" in body["percentiles"]["description"]


def test_report_empty_days_are_zero(client, supervisor):
    body = json.loads(get_report(client, supervisor, "from=2026-01-30&to=2026-02-02").body)

    assert [day["date"] for day in body["days"]] == [
        "2026-01-30",
        "2026-01-31",
        "2026-02-01",
        "2026-02-02",
    ]
    assert body["totals"]["offered"] == 0
    assert body["totals"]["deflected_share"] is None
    assert body["totals"]["time_in_queue"]["median"] is None
    assert body["timezone"] == "America/Mexico_City"


def test_report_open_bucket_has_no_estimate(client, supervisor):
    send(client, contact("c99", wait=5400))

    body = json.loads(get_report(client, supervisor, "from=2026-03-02&to=2026-03-02").body)

    assert body["totals"]["time_in_queue"]["median"] == estimate(None, 3600, None, None)


def test_report_analyst_reads_any_agency(client, agent_tokens, audit_records):
    headers = agent_tokens.headers(roles=("analyst",), agency_id="water")

    response = get_report(client, headers)

    assert response.status_code == 200, response.body
    assert json.loads(response.body)["agency_id"] == "demo"
    (record,) = audit_records()
    assert record["action"] == "report.phone"
    assert record["role"] == "analyst"
    assert record["outcome"] == "success"
    assert record["resource"] == "reports/agencies/demo/phone"


def test_report_analyst_unknown_agency_not_found(client, agent_tokens):
    headers = agent_tokens.headers(roles=("analyst",))

    response = client.http.get(
        "/reports/agencies/nowhere/phone?from=2026-03-01&to=2026-03-02", headers=headers
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": ("supervisor",), "agency_id": "water"},
        {"roles": ("agent",), "agency_id": "water"},
        {"roles": ("agent",)},
        {"roles": ("auditor",)},
    ],
    ids=["other agency supervisor", "other agency agent", "own agency agent", "auditor"],
)
def test_report_forbidden_roles_get_403(client, agent_tokens, audit_records, claims):
    response = get_report(client, agent_tokens.headers(**claims))

    assert response.status_code == 403
    (record,) = audit_records()
    assert record["outcome"] == "denied"
    assert record["resource"] == "reports/agencies/demo/phone"


def test_report_without_token_is_401(client):
    assert get_report(client, {}).status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-03-02", "query.from"),
        ("from=2026-03-02", "query.to"),
        ("from=2026-3-2&to=2026-03-02", "query.from"),
        ("from=2026-02-30&to=2026-03-02", "query.from"),
        ("from=2026-03-02&to=tomorrow", "query.to"),
        ("from=2026-03-02&to=2026-03-01", "query.to"),
        ("from=2026-01-01&to=2026-04-03", "query.to"),
        ("from=2026-03-01&to=2026-03-02&queue=x", "query.queue"),
    ],
)
def test_report_invalid_query_names_field(client, supervisor, audit_records, query, field):
    response = get_report(client, supervisor, query)

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["field"] == field
    (record,) = audit_records()
    assert record["outcome"] == "invalid"


def test_report_longest_range_accepted(client, supervisor):
    response = get_report(client, supervisor, "from=2026-07-01&to=2026-09-30")

    assert response.status_code == 200
    assert len(json.loads(response.body)["days"]) == 92


def test_report_invalid_agency_id_rejected(client, supervisor, audit_records):
    response = client.http.get(
        f"{REPORT.replace('demo', 'Demo%20Agency')}?from=2026-03-01&to=2026-03-02",
        headers=supervisor,
    )

    assert response.status_code == 400
    (record,) = audit_records()
    assert record["resource"] == "reports/agencies/<invalid id>/phone"
