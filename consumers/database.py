"""A consumer's own tables: a SQLite file under the data directory, or PostgreSQL.

Statements are written once with SQLite's `?` placeholders; on PostgreSQL they are sent with the
dialect's own.
The inbox (the ids of the events a consumer has handled) lives in the same database as the
consumer's tables, so a handler's effects and the record of having handled the event commit
together: a redelivered event finds its id and has no second effect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

from metaledger.domain.storage import (
    POSTGRES,
    SECURE_DELETE,
    PostgresDatabase,
    truncate_wal,
    vacuum,
)

INBOX_TABLE = "consumer_inbox"


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the number of rows it changed."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def erasing(self, *tables: str) -> None:
        """Says that the transaction deletes personal data from `tables`: once it committed,
        what the rows occupied is cleared from the database's files too."""


class _Erasing:
    def __init__(self) -> None:
        self.erased: list[str] = []

    def erasing(self, *tables: str) -> None:
        self.erased.extend(tables)


class _SQLiteTransaction(_Erasing):
    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(sql, params).rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()


class _PostgresTransaction(_Erasing):
    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        super().__init__()
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(_pg(sql), params).rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(_pg(sql), params).fetchall()


def _pg(sql: str) -> str:
    return sql.replace("?", POSTGRES.placeholder)


class Database:
    """One connection, used by one thread at a time (the consumer's)."""

    def __init__(
        self,
        *,
        sqlite: sqlite3.Connection | None = None,
        postgres: psycopg.Connection[tuple[Any, ...]] | None = None,
    ) -> None:
        self._sqlite = sqlite
        self._postgres = postgres
        with self.transaction() as tx:
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (consumer TEXT NOT NULL, "
                "event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id))"
            )

    @classmethod
    def in_sqlite_file(cls, path: Path) -> Database:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # Every write zeroes what it frees: an erased user's earlier rows go with the last.
        connection.execute(SECURE_DELETE)
        return cls(sqlite=connection)

    @classmethod
    def in_postgres(cls, database: PostgresDatabase) -> Database:
        """Tables in the database's schema (`?schema=`), as the event store's are."""
        return cls(postgres=database.connect())

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Commits when the block ends, rolls back when it raises; then clears what an erasing
        transaction's deletions left (dead row versions vacuumed, the SQLite WAL truncated)."""
        if self._postgres is not None:
            with self._postgres.transaction():
                postgres = _PostgresTransaction(self._postgres)
                yield postgres
            if postgres.erased:
                vacuum(self._postgres, postgres.erased)
            return
        assert self._sqlite is not None
        self._sqlite.execute("BEGIN IMMEDIATE")
        sqlite = _SQLiteTransaction(self._sqlite)
        try:
            yield sqlite
        except BaseException:
            self._sqlite.execute("ROLLBACK")
            raise
        self._sqlite.execute("COMMIT")
        if sqlite.erased:
            truncate_wal(self._sqlite.cursor(), "consumer")

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()
        if self._sqlite is not None:
            self._sqlite.close()


def claim(tx: Transaction, consumer: str, event_id: str) -> bool:
    """Records that `consumer` handles `event_id` now; False when it already did."""
    inserted = tx.execute(
        f"INSERT INTO {INBOX_TABLE} (consumer, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (consumer, event_id),
    )
    return inserted == 1
