"""The audit read model in a SQLite file of its own (the embedded default).

A tracking recorder of the `eventsourcing` library: the position is written by the same
transaction as the rows. Records the API writes directly go to the same file, each in a short
transaction of its own.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor

from metaledger.domain.storage import SECURE_DELETE, SQLITE
from metaledger.projections.audit.logquery import LogQueryTranslator
from metaledger.projections.audit.records import FROM_API, AuditUser, LogRecord, log_id
from metaledger.projections.audit.store import (
    CHANGES_TABLE,
    LOGS_TABLE,
    STATEMENT_TIMEOUT_SECONDS,
    USERS_TABLE,
    VALUES_TABLE,
    AuditBatch,
    AuditReads,
    Statements,
    change_row,
    is_index,
    record_row,
    schema_statements,
    value_rows,
)
from metaledger.projections.readmodel import SQLiteReadModel
from metaledger.projections.search.errors import QueryTimeout

_PROGRESS_INTERVAL = 1_000
_MAX_PARAMETERS = 500
_ANALYSIS_ROWS = 2000


def _id_bytes(aggregate_id: UUID) -> bytes:
    return aggregate_id.bytes


def _id_of(raw: bytes) -> UUID:
    return UUID(bytes=bytes(raw))


class SQLiteAuditStore(AuditReads, SQLiteReadModel):
    dialect = SQLITE
    statements = Statements(SQLITE)
    translator = LogQueryTranslator(SQLITE)
    ddl = schema_statements(SQLITE)

    statement_timeout = STATEMENT_TIMEOUT_SECONDS
    label = "audit read model"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.ddl]

    # Reads

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]:
        with self.datastore.transaction(commit=False) as c:
            return _users(c, aggregate_ids)

    def event_positions(self, aggregate_id: UUID) -> dict[int, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT version, position FROM {LOGS_TABLE} WHERE aggregate_id = ?",
                (aggregate_id.bytes,),
            )
            return {version: position for version, position in c.fetchall()}

    def _id_of(self, raw: Any) -> UUID:
        return UUID(bytes=bytes(raw))

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            connection = c.sqlite_cursor.connection
            deadline = time.monotonic() + self.statement_timeout
            connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_INTERVAL)
            try:
                c.execute(sql, params)
                return list(c.fetchall())
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise QueryTimeout(str(error)) from None
                raise
            finally:
                connection.set_progress_handler(None, 0)

    # Writes

    def apply(self, batch: AuditBatch) -> None:
        self.write_batch(
            batch.position, functools.partial(self._write, batch=batch), bool(batch.erased)
        )

    def _write(self, c: SQLiteCursor, *, batch: AuditBatch) -> None:
        for sql in self.statements.erase if batch.erased else ():
            c.executemany(sql, [(aggregate_id.bytes,) for aggregate_id in batch.erased])
        c.executemany(
            self.statements.upsert_user,
            [
                (aggregate_id.bytes, user.user_id, user.user_name, user.connection)
                for aggregate_id, user in batch.users.items()
            ],
        )
        c.executemany(
            self.statements.insert_change, [change_row(x, _id_bytes) for x in batch.changes]
        )
        c.executemany(self.statements.insert_value, value_rows(batch.changes))
        c.executemany(
            self.statements.upsert_record, [record_row(r, _id_bytes) for r in batch.records]
        )

    def record(self, records: Sequence[LogRecord]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                self.statements.upsert_record, [record_row(r, _id_bytes) for r in records]
            )

    def prune(self, before: datetime) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(SECURE_DELETE)
            c.execute(self.statements.prune(), (log_id(before, FROM_API, 0),))
            return int(c.sqlite_cursor.rowcount)

    @contextmanager
    def replacing(self, position: int) -> Iterator[_Writer]:
        tables = [s for s in self.ddl if not is_index(s)]
        indexes = [s for s in self.ddl if is_index(s)]
        with self.datastore.transaction(commit=True) as c:
            c.execute(SECURE_DELETE)
            for table in (CHANGES_TABLE, VALUES_TABLE, USERS_TABLE):
                c.execute(f"DROP TABLE IF EXISTS {table}")
            # The records written directly stay: they come from no event.
            c.execute(f"DELETE FROM {LOGS_TABLE} WHERE position IS NOT NULL")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (self.application_name,))
            for statement in tables:
                c.execute(statement)
            # The users' table is read while writing: indexed from the start.
            yield _Writer(self, c)
            for statement in indexes:
                c.execute(statement)
            c.execute(f"PRAGMA analysis_limit = {_ANALYSIS_ROWS}")
            c.execute("ANALYZE")
            self._insert_tracking(c, Tracking(self.application_name, position))


class _Writer:
    def __init__(self, store: SQLiteAuditStore, cursor: SQLiteCursor) -> None:
        self.store = store
        self.cursor = cursor

    def write(self, batch: AuditBatch) -> None:
        self.store._write(self.cursor, batch=batch)

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]:
        return _users(self.cursor, aggregate_ids)


def _users(c: SQLiteCursor, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]:
    found: dict[UUID, AuditUser] = {}
    listed = list(aggregate_ids)
    for start in range(0, len(listed), _MAX_PARAMETERS):
        chunk = listed[start : start + _MAX_PARAMETERS]
        c.execute(
            f"SELECT aggregate_id, user_id, user_name, connection FROM {USERS_TABLE} "
            f"WHERE aggregate_id IN ({', '.join('?' for _ in chunk)})",
            [aggregate_id.bytes for aggregate_id in chunk],
        )
        for raw, user_id, user_name, connection in c.fetchall():
            found[_id_of(raw)] = AuditUser(user_id, user_name, connection)
    return found
