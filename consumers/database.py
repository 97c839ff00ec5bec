"""A consumer's own tables: a SQLite file under the data directory, or PostgreSQL.

Statements are written once with `?` placeholders; on PostgreSQL they are sent with `%s`.
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

from domain.storage.config import is_postgres

INBOX_TABLE = "consumer_inbox"


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the number of rows it changed."""

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class _SQLiteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(sql, params).rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()


class _PostgresTransaction:
    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(_pg(sql), params).rowcount

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(_pg(sql), params).fetchall()


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class Database:
    """One connection, used by one thread at a time (the consumer's)."""

    def __init__(self, database_url: str | None, data_dir: Path, filename: str) -> None:
        self._postgres: psycopg.Connection[tuple[Any, ...]] | None = None
        self._sqlite: sqlite3.Connection | None = None
        if database_url and is_postgres(database_url):
            self._postgres = psycopg.connect(database_url, autocommit=True)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(
                data_dir / filename, isolation_level=None, check_same_thread=False
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as tx:
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {INBOX_TABLE} (consumer TEXT NOT NULL, "
                "event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id))"
            )

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Commits when the block ends, rolls back when it raises."""
        if self._postgres is not None:
            with self._postgres.transaction():
                yield _PostgresTransaction(self._postgres)
            return
        assert self._sqlite is not None
        self._sqlite.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteTransaction(self._sqlite)
        except BaseException:
            self._sqlite.execute("ROLLBACK")
            raise
        self._sqlite.execute("COMMIT")

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
