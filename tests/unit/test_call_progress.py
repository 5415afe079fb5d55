"""Merge rules of a call leg (chalicelib/journey/call_progress.py), without AWS."""

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.channels.connect_events import leg_update, parse_event
from chalicelib.journey.call_progress import LegUpdate, RecordFacts, merge_leg, summarize

EVENTS_DIR = Path(__file__).parent.parent / "events"
LIFECYCLE = (
    "contact_event_initiated",
    "contact_event_connected_to_system",
    "contact_event_queued",
    "contact_event_connected_to_agent",
    "contact_event_disconnected",
    "contact_event_completed",
    "contact_event_contact_data_updated",
)
CONTACT_ID = "5f1b2a9e-0c4d-4e7a-9b3f-6a2d8c1e0f01"


def update_of(name):
    event = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return leg_update(parse_event(event))


def merged(updates, leg=None):
    for update in updates:
        leg = merge_leg(leg, update)
    return leg


def record(updated_at, **facts):
    moment = datetime.fromisoformat(updated_at).replace(tzinfo=UTC)
    return LegUpdate(contact_id=CONTACT_ID, record=RecordFacts(updated_at=moment, **facts))


def test_merge_every_order_gives_same_leg():
    updates = [update_of(name) for name in LIFECYCLE]
    expected = merged(updates)

    results = {
        json.dumps(merged(order), sort_keys=True) for order in itertools.permutations(updates)
    }

    assert results == {json.dumps(expected, sort_keys=True)}
    assert expected["status"] == "completed"


def test_merge_repeated_update_is_idempotent():
    update = update_of("contact_event_queued")

    once = merge_leg(None, update)

    assert merge_leg(once, update) == once


def test_merge_start_time_keeps_earliest():
    later = LegUpdate(CONTACT_ID, times={"enqueued_at": datetime(2026, 3, 2, 15, 6, tzinfo=UTC)})
    earlier = LegUpdate(CONTACT_ID, times={"enqueued_at": datetime(2026, 3, 2, 15, 5, tzinfo=UTC)})

    assert merged([later, earlier])["enqueued_at"] == "2026-03-02T15:05:00.000Z"
    assert merged([earlier, later])["enqueued_at"] == "2026-03-02T15:05:00.000Z"


def test_merge_end_time_keeps_latest():
    first = LegUpdate(
        CONTACT_ID, times={"disconnected_at": datetime(2026, 3, 2, 15, 8, tzinfo=UTC)}
    )
    second = LegUpdate(
        CONTACT_ID, times={"disconnected_at": datetime(2026, 3, 2, 15, 9, tzinfo=UTC)}
    )

    assert merged([second, first])["disconnected_at"] == "2026-03-02T15:09:00.000Z"


def test_merge_newer_record_replaces_older():
    old = record("2026-03-02T15:20:00", queue_seconds=102, attributes={"tramite": "agua"})
    new = record("2026-03-02T16:00:00", queue_seconds=98, hold_seconds=30)

    leg = merged([new, old])

    assert leg["queue_seconds"] == 98
    assert leg["hold_seconds"] == 30
    # The newer record has no attributes, which does not clear what the older one gave.
    assert "attributes" not in leg
    assert leg["record_updated_at"] == "2026-03-02T16:00:00.000Z"


def test_merge_record_never_clears_values():
    leg = merged([record("2026-03-02T15:20:00", queue_seconds=102)])

    leg = merge_leg(leg, record("2026-03-02T16:00:00", queue_seconds=None))

    assert leg["queue_seconds"] == 102


def test_merge_event_fills_queue_once():
    first = LegUpdate(CONTACT_ID, queue_arn="arn:first")
    second = LegUpdate(CONTACT_ID, queue_arn="arn:second")

    assert merged([first, second])["queue_arn"] == "arn:first"


def test_summary_status_is_last_leg():
    first = merged([update_of("contact_event_disconnected")])
    second = merge_leg(
        None,
        LegUpdate(
            "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e11",
            status="queued",
            times={"initiated_at": datetime(2026, 3, 2, 15, 12, 31, tzinfo=UTC)},
        ),
    )

    summary = summarize({CONTACT_ID: first, "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e11": second})

    assert summary.status == "queued"
    assert summary.started_at == "2026-03-02T15:04:05.120Z"
    assert summary.ended_at is None
    assert summary.legs[0][0] == CONTACT_ID
