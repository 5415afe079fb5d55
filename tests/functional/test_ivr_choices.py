"""Contact flow choices (`record_ivr_choice`) counted in the phone figures, over moto."""

import pytest

from tests.support import get_item, items_of_kind

QUEUE_ARN = (
    "arn:aws:connect:us-east-1:123456789012:instance/0c0d0e0f-0000-4000-8000-00000000d3e0"
    "/queue/5c1d7a2e-3b4f-4c6d-8e9f-0a1b2c3d4e50"
)
QUEUE_ID = "5c1d7a2e-3b4f-4c6d-8e9f-0a1b2c3d4e50"
CONTACT_ID = "7d2c9b1e-4a3f-4e5d-9c8b-1a2b3c4d5e61"


def row(day, queue_id=QUEUE_ID):
    return get_item("PHONE#demo", f"DAY#{day}#QUEUE#{queue_id}")


def test_ivr_choice_counted_once_per_contact(aws):
    from chalicelib.reports.phone import record_ivr_choice

    for _ in range(3):
        record_ivr_choice(
            "demo", QUEUE_ARN, "2026-03-02T15:04:05Z", "callback_requested", CONTACT_ID
        )

    counted = row("2026-03-02")
    assert counted["callbacks"] == 1
    assert counted["queue_arn"] == QUEUE_ARN
    assert "deflected" not in counted


def test_ivr_choice_each_choice_counts(aws):
    from chalicelib.reports.phone import record_ivr_choice

    record_ivr_choice("demo", QUEUE_ARN, "2026-03-02T15:04:05Z", "callback_requested", CONTACT_ID)
    record_ivr_choice("demo", QUEUE_ARN, "2026-03-02T15:04:09Z", "deflected", CONTACT_ID)

    counted = row("2026-03-02")
    assert counted["callbacks"] == 1
    assert counted["deflected"] == 1
    assert len(items_of_kind(f"IVRCHOICE#{CONTACT_ID}")) == 2


def test_ivr_choice_day_is_agency_local_date(aws):
    from chalicelib.reports.phone import record_ivr_choice

    # 03:30 UTC is 21:30 the evening before in Mexico City (UTC-6, no daylight saving).
    record_ivr_choice("demo", None, "2026-03-03T03:30:00Z", "deflected", CONTACT_ID)

    assert row("2026-03-02", "-")["deflected"] == 1
    assert row("2026-03-03", "-") is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"choice": "hung_up"}, "choice"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-03-02T15:04:05"}, "occurred_at"),
        ({"contact_id": ""}, "contact_id"),
        ({"queue": "arn:aws:connect:us-east-1:123456789012:instance/x/queue/"}, "queue"),
    ],
)
def test_ivr_choice_invalid_value_is_rejected(aws, changes, field):
    from chalicelib.errors import ValidationError
    from chalicelib.reports.phone import record_ivr_choice

    arguments = {
        "agency_id": "demo",
        "queue": QUEUE_ARN,
        "occurred_at": "2026-03-02T15:04:05Z",
        "choice": "deflected",
        "contact_id": CONTACT_ID,
        **changes,
    }
    with pytest.raises(ValidationError) as raised:
        record_ivr_choice(**arguments)

    assert raised.value.field == field
    assert items_of_kind("PHONE#") == []


def test_ivr_choice_unknown_agency_is_not_found(aws):
    from chalicelib.errors import NotFoundError
    from chalicelib.reports.phone import record_ivr_choice

    with pytest.raises(NotFoundError):
        record_ivr_choice("nowhere", None, "2026-03-02T15:04:05Z", "deflected", CONTACT_ID)


def test_ivr_choice_retries_row_conflict(aws, monkeypatch):
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

    phone.record_ivr_choice("demo", QUEUE_ARN, "2026-03-02T15:04:05Z", "deflected", CONTACT_ID)

    assert failures == [1]
    assert row("2026-03-02")["deflected"] == 1
