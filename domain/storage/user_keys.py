"""Per-user encryption keys, kept in the event store's own database.

A user's key row is inserted in the transaction that stores the user's first event and its key
set to NULL in the transaction that stores an erasing UserDeleted: from then on nobody can
decrypt the user's sealed payloads (crypto-shredding). The row itself stays, so that a destroyed
key is told apart from a missing one; it also names the aggregate's user id, which readers of
the event log (the change feed, the Kafka relay) need for events that do not carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from metaledger.domain.ports import KeyRecord
from metaledger.domain.storage.dialect import Dialect

USER_KEYS_TABLE = "user_keys"


@dataclass(frozen=True)
class NewKey:
    aggregate_id: UUID
    user_id: str
    key: bytes


class UserKeyStatements:
    def __init__(self, dialect: Dialect, table: str, schema: str | None = None) -> None:
        self.dialect = dialect
        table = dialect.table(table, schema)
        p = dialect.placeholder
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {table} "
            f"(aggregate_id {dialect.aggregate_id_type} PRIMARY KEY, "
            f"user_id TEXT NOT NULL, key {dialect.blob_type})"
        ]
        self.insert = f"INSERT INTO {table} (aggregate_id, user_id, key) VALUES ({p}, {p}, {p})"
        self.destroy = f"UPDATE {table} SET key = NULL WHERE aggregate_id = {p}"
        self.select = f"SELECT aggregate_id, user_id, key FROM {table} WHERE " + (
            dialect.any_of.format("aggregate_id")
        )


def write_keys(
    executemany: Callable[[str, Sequence[Sequence[Any]]], object],
    statements: UserKeyStatements,
    new_keys: Iterable[NewKey],
    destroyed: Iterable[UUID],
) -> None:
    """Each kind of write in one statement, however many users the append holds."""
    id_param = statements.dialect.id_param
    inserted = [(id_param(new.aggregate_id), new.user_id, new.key) for new in new_keys]
    if inserted:
        executemany(statements.insert, inserted)
    gone = [(id_param(aggregate_id),) for aggregate_id in destroyed]
    if gone:
        executemany(statements.destroy, gone)


def key_records(rows: Iterable[Any], ids: dict[Any, UUID]) -> dict[UUID, KeyRecord]:
    """Rows of `UserKeyStatements.select`, by aggregate id; `ids` maps each id parameter back
    to its id (parsing the ids the rows hold again costs more than the query on a big page)."""
    return {
        ids[row["aggregate_id"]]: KeyRecord(
            row["user_id"], bytes(row["key"]) if row["key"] is not None else None
        )
        for row in rows
    }
