"""GET /reports/agencies/{agency_id}/satisfaction: supervisors read survey figures per day."""

from datetime import UTC, datetime

import pytest

REPORT = "/reports/agencies/demo/satisfaction"


@pytest.fixture
def supervisor_headers(agent_tokens):
    return agent_tokens.headers(sub="supervisor-demo-0001", roles=["supervisor"])


@pytest.fixture
def figures(aws):
    """Survey events of three days, in the demo agency's time zone (America/Mexico_City).

    2026-11-30 local: sent 3, answers 5 and 4. 2026-12-01 local (05:30 UTC on 12-02 is
    23:30 on 12-01 there): sent 1, answers 2 and 1, one unanswered, one recovery opened.
    2026-12-03 local: answer 5.
    """
    from chalicelib.agencies import get_agency
    from chalicelib.store.transactions import Transaction
    from chalicelib.workflows.survey_figures import add_counts

    agency = get_agency("demo")
    events = [
        (datetime(2026, 11, 30, 15, 0, tzinfo=UTC), {"sent": True}),
        (datetime(2026, 11, 30, 15, 1, tzinfo=UTC), {"sent": True}),
        (datetime(2026, 11, 30, 15, 2, tzinfo=UTC), {"sent": True}),
        (datetime(2026, 11, 30, 18, 0, tzinfo=UTC), {"rating": 5}),
        (datetime(2026, 11, 30, 19, 0, tzinfo=UTC), {"rating": 4}),
        (datetime(2026, 12, 1, 16, 0, tzinfo=UTC), {"sent": True}),
        (datetime(2026, 12, 1, 17, 0, tzinfo=UTC), {"rating": 2, "recovery": True}),
        (datetime(2026, 12, 2, 5, 30, tzinfo=UTC), {"rating": 1}),
        (datetime(2026, 12, 2, 5, 40, tzinfo=UTC), {"no_answer": True}),
        (datetime(2026, 12, 3, 20, 0, tzinfo=UTC), {"rating": 5}),
    ]
    for moment, counts in events:
        transaction = Transaction()
        add_counts(transaction, agency, moment, **counts)
        transaction.commit()


def _get(client, headers, path=REPORT, **query):
    text = "&".join(f"{key}={value}" for key, value in query.items())
    return client.http.get(f"{path}?{text}" if text else path, headers=headers)


def test_report_counts_days_and_totals(client, supervisor_headers, figures):
    response = _get(client, supervisor_headers, **{"from": "2026-11-30", "to": "2026-12-03"})

    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["timezone"] == "America/Mexico_City"
    assert [day["day"] for day in body["days"]] == ["2026-11-30", "2026-12-01", "2026-12-03"]
    first, second, third = body["days"]
    assert first["surveys_sent"] == 3
    assert first["answers"] == 2
    assert first["scores"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
    assert first["average"] == 4.5
    assert second["answers"] == 2
    assert second["score_sum"] == 3
    assert second["no_answer"] == 1
    assert second["recoveries_opened"] == 1
    assert second["average"] == 1.5
    assert third["average"] == 5.0
    totals = body["totals"]
    assert totals["surveys_sent"] == 4
    assert totals["answers"] == 5
    assert totals["score_sum"] == 17
    assert totals["average"] == 3.4
    assert totals["scores"] == {"1": 1, "2": 1, "3": 0, "4": 1, "5": 2}
    assert totals["no_answer"] == 1
    assert totals["recoveries_opened"] == 1


def test_report_range_is_inclusive(client, supervisor_headers, figures):
    response = _get(client, supervisor_headers, **{"from": "2026-12-01", "to": "2026-12-01"})

    assert [day["day"] for day in response.json_body["days"]] == ["2026-12-01"]
    assert response.json_body["totals"]["answers"] == 2


def test_report_empty_range_has_no_average(client, supervisor_headers, figures):
    response = _get(client, supervisor_headers, **{"from": "2025-01-01", "to": "2025-01-31"})

    assert response.status_code == 200
    assert response.json_body["days"] == []
    assert response.json_body["totals"]["average"] is None


def test_report_agent_role_is_403(client, agent_headers, figures):
    response = _get(client, agent_headers, **{"from": "2026-11-30", "to": "2026-12-03"})

    assert response.status_code == 403
    assert "supervisor" in response.json_body["error"]["message"]


def test_report_other_agency_is_403(client, agent_tokens, figures):
    headers = agent_tokens.other_agency(roles=["supervisor"])

    response = _get(client, headers, **{"from": "2026-11-30", "to": "2026-12-03"})

    assert response.status_code == 403
    assert "days" not in response.json_body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-12-03"}, "query.from"),
        ({"from": "2026-12-03"}, "query.to"),
        ({"from": "2026-12-3", "to": "2026-12-04"}, "query.from"),
        ({"from": "2026-02-30", "to": "2026-03-04"}, "query.from"),
        ({"from": "2026-12-04", "to": "2026-12-03"}, "query.to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "query"),
        ({"from": "2026-12-01", "to": "2026-12-02", "agency": "water"}, "query.agency"),
    ],
)
def test_report_invalid_query_is_400(client, supervisor_headers, query, field):
    response = _get(client, supervisor_headers, **query)

    assert response.status_code == 400, response.body
    assert response.json_body["error"]["field"] == field


def test_report_full_year_is_allowed(client, supervisor_headers, figures):
    response = _get(client, supervisor_headers, **{"from": "2025-12-04", "to": "2026-12-04"})

    assert response.status_code == 200
    assert response.json_body["totals"]["answers"] == 5


def test_report_writes_audit(client, supervisor_headers, figures, audit_records):
    _get(client, supervisor_headers, **{"from": "2026-11-30", "to": "2026-12-03"})

    (record,) = audit_records()
    assert record["action"] == "report.satisfaction"
    assert record["role"] == "supervisor"
    assert record["resource"] == "reports/agencies/demo/satisfaction"
    assert record["outcome"] == "success"


def test_report_invalid_query_audit_names_field(client, supervisor_headers, audit_records):
    _get(client, supervisor_headers, **{"from": "2026-12-04", "to": "2026-12-03"})

    (record,) = audit_records()
    assert record["outcome"] == "invalid"
    assert record["reason"] == "invalid_request: query.to"


def test_report_malformed_agency_is_audited_without_it(client, supervisor_headers, audit_records):
    path = "/reports/agencies/Maria.Lopez@example.net/satisfaction"

    response = _get(client, supervisor_headers, path, **{"from": "2026-12-01", "to": "2026-12-02"})

    assert response.status_code == 403
    (record,) = audit_records()
    assert "Maria" not in record["resource"]
