"""One TransactWriteItems call whose failed conditions come back by meaning."""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConflictError, DuplicateEventError
from chalicelib.settings import get_settings
from chalicelib.store.models import TableItem, shared_botocore_session

# The tag of the dedupe marker; its failed condition means "already recorded".
DEDUPE = "dedupe"
# The order in which pynamodb's TransactWrite sends each kind of operation.
_SEND_ORDER = {"check": 0, "delete": 1, "put": 2, "update": 3}


class TransactionConflictError(ConflictError):
    """A condition of a transaction failed; `tags` names the writes that failed."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__(f"the stored state changed while writing ({', '.join(tags)})")
        self.tags = tags


@lru_cache(maxsize=1)
def _connection() -> Connection:
    """Return the transaction connection, with the same timeouts and retries as the models."""
    meta = TableItem.Meta
    connection = Connection(
        region=get_settings().region,
        connect_timeout_seconds=meta.connect_timeout_seconds,
        read_timeout_seconds=meta.read_timeout_seconds,
        max_retry_attempts=meta.max_retry_attempts,
    )
    connection._local.session = shared_botocore_session()
    return connection


def reset_connection() -> None:
    """Drop the cached connection, so the next write builds a client anew (tests)."""
    _connection.cache_clear()


@dataclass
class Transaction:
    """Writes collected for one atomic commit, each with a tag naming its role."""

    _operations: list[tuple[str, str, Any, Any, Any]] = field(default_factory=list)

    def put(self, item: Any, tag: str, condition: Any = None) -> None:
        self._operations.append(("put", tag, item, condition, None))

    def put_new(self, item: Any, tag: str) -> None:
        """Put an item that must not exist yet."""
        self.put(item, tag, condition=type(item).pk.does_not_exist())

    def update(self, item: Any, actions: list, tag: str, condition: Any = None) -> None:
        self._operations.append(("update", tag, item, condition, actions))

    def check(self, item: Any, condition: Any, tag: str) -> None:
        """Make the commit conditional on a stored item that it does not write."""
        self._operations.append(("check", tag, item, condition, None))

    def delete(self, item: Any, tag: str, condition: Any = None) -> None:
        self._operations.append(("delete", tag, item, condition, None))

    def extend(self, other: "Transaction") -> None:
        """Add every write of `other`, which stays as it was."""
        self._operations.extend(other._operations)

    def __len__(self) -> int:
        return len(self._operations)

    def commit(self) -> None:
        """Write everything or nothing.

        Raises DuplicateEventError when the dedupe marker exists, and
        TransactionConflictError naming the other conditions that failed.
        """
        # pynamodb sends condition checks, then deletes, puts and updates, and
        # cancellation reasons follow the order sent, so the operations are sorted
        # the same way first.
        operations = sorted(self._operations, key=lambda operation: _SEND_ORDER[operation[0]])
        try:
            with TransactWrite(connection=_connection()) as transaction:
                for kind, _, item, condition, actions in operations:
                    if kind == "check":
                        transaction.condition_check(
                            type(item), item.pk, item.sk, condition=condition
                        )
                    elif kind == "put":
                        transaction.save(item, condition=condition)
                    elif kind == "delete":
                        transaction.delete(item, condition=condition, add_version_condition=False)
                    else:
                        transaction.update(
                            item, actions, condition=condition, add_version_condition=False
                        )
        except TransactWriteError as error:
            reasons = list(enumerate(error.cancellation_reasons))
            failed = [
                operations[index][1]
                for index, reason in reasons
                if reason is not None and reason.code == "ConditionalCheckFailed"
            ]
            # Another transaction on the same items was in flight: the caller
            # re-reads and tries again, as for a failed condition.
            failed += [
                f"{operations[index][1]} (concurrent write)"
                for index, reason in reasons
                if reason is not None and reason.code == "TransactionConflict"
            ]
            if DEDUPE in failed:
                raise DuplicateEventError("event already recorded") from error
            if failed:
                raise TransactionConflictError(failed) from error
            raise
