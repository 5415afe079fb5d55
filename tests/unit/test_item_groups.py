import threading

import pytest

from chalicelib import clock
from chalicelib.channels.item_groups import ItemGroups, run_groups

FAR_FUTURE = float("inf")


def recorder(log, lock, name):
    def item():
        with lock:
            log.append((name, threading.current_thread().name))

    return item


def test_item_groups_keep_order_within_group():
    log, lock = [], threading.Lock()
    items = ItemGroups()
    for number in range(5):
        for key in ("a", "b", "c"):
            items.add(key, recorder(log, lock, f"{key}{number}"))

    outcome = run_groups(items, workers=3, deadline=FAR_FUTURE)

    assert outcome.finished == 15
    assert outcome.not_started == 0
    for key in ("a", "b", "c"):
        names = [name for name, _ in log if name.startswith(key)]
        assert names == [f"{key}{number}" for number in range(5)]
        threads = {thread for name, thread in log if name.startswith(key)}
        assert len(threads) == 1


def test_item_groups_error_stops_only_its_group():
    log, lock = [], threading.Lock()
    items = ItemGroups()

    def failing():
        raise RuntimeError("write failed")

    items.add("a", recorder(log, lock, "a0"))
    items.add("a", failing)
    items.add("a", recorder(log, lock, "a2"))
    items.add("b", recorder(log, lock, "b0"))
    items.add("b", recorder(log, lock, "b1"))

    with pytest.raises(RuntimeError, match="write failed"):
        run_groups(items, workers=2, deadline=FAR_FUTURE)

    names = sorted(name for name, _ in log)
    assert names == ["a0", "b0", "b1"]


def test_item_groups_start_nothing_after_deadline(monkeypatch):
    monkeypatch.setattr(clock, "monotonic", lambda: 10.0)
    log, lock = [], threading.Lock()
    items = ItemGroups()
    for number in range(4):
        items.add(number % 2, recorder(log, lock, str(number)))

    outcome = run_groups(items, workers=2, deadline=10.0)

    assert outcome.finished == 0
    assert outcome.not_started == 4
    assert log == []


def test_item_groups_one_worker_runs_in_caller_thread():
    log, lock = [], threading.Lock()
    items = ItemGroups()
    items.add("a", recorder(log, lock, "a0"))
    items.add("b", recorder(log, lock, "b0"))

    run_groups(items, workers=1, deadline=FAR_FUTURE)

    assert {thread for _, thread in log} == {threading.current_thread().name}
