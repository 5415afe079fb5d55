"""Record the items of one webhook delivery on a bounded thread pool, within a time budget.

One Meta delivery can batch many messages and statuses. Recorded one after another,
a large one can outlast API Gateway's 29 s, and Meta then delivers the whole body
again, for days. Items are grouped by key (the sender, or the message a status names):
a group runs in order on one thread, so one citizen's STOP and next message keep their
order, and groups run at once. No item starts after the deadline. The items left over
make the delivery fail, so Meta delivers it again, and the dedupe markers and status
ranks make that delivery skip what was recorded.

Each item writes through the journey service, whose writes are transactions or
conditional updates, so an item that stops part way leaves only whole records.
"""

import contextvars
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib import clock
from chalicelib.observability import logger

Item = Callable[[], object]


@dataclass
class ItemGroups:
    """The items of one delivery by group key, each group in the order received."""

    groups: dict[Hashable, list[Item]] = field(default_factory=dict)

    def add(self, key: Hashable, item: Item) -> None:
        self.groups.setdefault(key, []).append(item)

    def __len__(self) -> int:
        return sum(len(items) for items in self.groups.values())


@dataclass(frozen=True)
class GroupOutcome:
    """How far one group got: items finished, items never started, and the error that stopped it."""

    finished: int
    not_started: int
    error: BaseException | None = None


@dataclass(frozen=True)
class Outcome:
    """How far a delivery got."""

    finished: int
    not_started: int


def run_groups(items: ItemGroups, workers: int, deadline: float) -> Outcome:
    """Run every group, up to `workers` groups at once, starting no item after `deadline`.

    `deadline` is a `clock.monotonic` time. A group stops at its first error while the
    other groups go on, and that error is raised once every group has stopped.
    """
    groups = list(items.groups.values())
    if workers == 1 or len(groups) <= 1:
        outcomes = [_run_group(group, deadline) for group in groups]
    else:
        with ThreadPoolExecutor(min(workers, len(groups)), "webhook-item") as pool:
            # Each group runs in a copy of this context, so the log keys one group
            # appends (agency, citizen) stay out of the other groups' lines.
            futures = [
                pool.submit(contextvars.copy_context().run, _run_group, group, deadline)
                for group in groups
            ]
            outcomes = [future.result() for future in futures]
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    if len(errors) > 1:
        logger.warning(
            "webhook items failed",
            extra={
                "failed_groups": len(errors),
                "error_types": sorted({type(e).__name__ for e in errors}),
            },
        )
    if errors:
        raise errors[0]
    return Outcome(
        finished=sum(outcome.finished for outcome in outcomes),
        not_started=sum(outcome.not_started for outcome in outcomes),
    )


def _run_group(group: list[Item], deadline: float) -> GroupOutcome:
    for index, item in enumerate(group):
        if clock.monotonic() >= deadline:
            return GroupOutcome(finished=index, not_started=len(group) - index)
        try:
            item()
        except Exception as error:  # noqa: BLE001 - re-raised by run_groups after the others
            return GroupOutcome(finished=index, not_started=len(group) - index - 1, error=error)
    return GroupOutcome(finished=len(group), not_started=0)
