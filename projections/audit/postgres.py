"""The audit read model in PostgreSQL tables of its own, beside the event store (text columns in
the "C" collation, so that both backends order keys and ids alike)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.rows import DictRow

from metaledger.domain.storage import POSTGRES
from metaledger.projections.audit.logquery import LogQueryTranslator
from metaledger.projections.audit.records import FROM_API, AuditUser, LogRecord, log_id
from metaledger.projections.audit.store import (
    CHANGE_COLUMNS,
    CHANGES_TABLE,
    LOG_COLUMNS,
    LOGS_TABLE,
    STATEMENT_TIMEOUT_SECONDS,
    TABLES,
    USER_COLUMNS,
    USERS_TABLE,
    VALUE_COLUMNS,
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
from metaledger.projections.readmodel import PostgresReadModel, copy_rows, insert_rows
from metaledger.projections.search.errors import QueryTimeout


def _same(aggregate_id: UUID) -> UUID:
    return aggregate_id


class PostgresAuditStore(AuditReads, PostgresReadModel):
    dialect = POSTGRES
    translator = LogQueryTranslator(POSTGRES)

    statement_timeout = STATEMENT_TIMEOUT_SECONDS
    erasable = TABLES

    def prepare(self) -> list[str]:
        self.statements = Statements(POSTGRES, f"{self.schema}.")
        return schema_statements(POSTGRES, f"{self.schema}.")

    # Reads

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]:
        with self.datastore.get_connection() as connection, connection.cursor() as curs:
            return self._users(curs, aggregate_ids)

    def _users(
        self, curs: Cursor[DictRow], aggregate_ids: Collection[UUID]
    ) -> dict[UUID, AuditUser]:
        curs.execute(
            f"SELECT aggregate_id, user_id, user_name, connection FROM "
            f"{self.statements.table(USERS_TABLE)} WHERE aggregate_id = ANY(%s)",
            (list(aggregate_ids),),
        )
        return {
            row["aggregate_id"]: AuditUser(row["user_id"], row["user_name"], row["connection"])
            for row in curs.fetchall()
        }

    def event_positions(self, aggregate_id: UUID) -> dict[int, int]:
        rows = self._read(
            f"SELECT version, position FROM {self.statements.table(LOGS_TABLE)} "
            "WHERE aggregate_id = %s",
            (aggregate_id,),
        )
        return {int(version): int(position) for version, position in rows}

    def _id_of(self, raw: Any) -> UUID:
        return UUID(str(raw))

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        timeout_ms = max(1, int(self.statement_timeout * 1000))
        with self.datastore.get_connection() as connection:
            try:
                with connection.transaction(), connection.cursor() as curs:
                    curs.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
                    curs.execute(sql, params)
                    return [tuple(row.values()) for row in curs.fetchall()]
            except psycopg.errors.QueryCanceled as error:
                raise QueryTimeout(str(error)) from None

    # Writes

    def apply(self, batch: AuditBatch) -> None:
        self.write_batch(
            batch.position, functools.partial(self._write, batch=batch), bool(batch.erased)
        )

    def _write(self, curs: Cursor[DictRow], *, batch: AuditBatch) -> None:
        for sql in self.statements.erase if batch.erased else ():
            curs.executemany(sql, [(aggregate_id,) for aggregate_id in batch.erased])
        # One statement from arrays, where one a user costs the server an execution each.
        insert_rows(
            curs,
            self.statements.table(USERS_TABLE),
            USER_COLUMNS,
            [
                (aggregate_id, user.user_id, user.user_name, user.connection)
                for aggregate_id, user in batch.users.items()
            ],
            {"aggregate_id": "uuid"},
            self.statements.user_updated,
        )
        # COPY: a batch holds several change rows and values an event, and COPY sends them in
        # one stream, where an INSERT a row costs a round of the protocol.
        copy_rows(
            curs,
            self.statements.table(CHANGES_TABLE),
            CHANGE_COLUMNS,
            [change_row(x, _same) for x in batch.changes],
        )
        copy_rows(
            curs, self.statements.table(VALUES_TABLE), VALUE_COLUMNS, value_rows(batch.changes)
        )
        if batch.erased:  # the erased users' records, rendered again, replace the old ones
            curs.execute(
                f"DELETE FROM {self.statements.table(LOGS_TABLE)} WHERE log_id = ANY(%s)",
                ([r.log_id for r in batch.records],),
            )
        records = [record_row(r, _same) for r in batch.records]
        copy_rows(curs, self.statements.table(LOGS_TABLE), LOG_COLUMNS, records)

    def record(self, records: Sequence[LogRecord]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            _many(curs, self.statements.upsert_record, [record_row(r, _same) for r in records])

    def prune(self, before: datetime) -> int:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.statements.prune(), (log_id(before, FROM_API, 0),))
            return int(curs.rowcount)

    @contextmanager
    def replacing(self, position: int) -> Iterator[_Writer]:
        tables = [s for s in self.ddl if not is_index(s)]
        indexes = [s for s in self.ddl if is_index(s)]
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            for table in (CHANGES_TABLE, VALUES_TABLE, USERS_TABLE):
                curs.execute(f"DROP TABLE IF EXISTS {self.statements.table(table)}")
            # The records written directly stay: they come from no event.
            curs.execute(
                f"DELETE FROM {self.statements.table(LOGS_TABLE)} WHERE position IS NOT NULL"
            )
            curs.execute(
                f"DELETE FROM {self.schema}.{self.tracking_table_name} WHERE application_name = %s",
                (self.application_name,),
            )
            for statement in tables:
                curs.execute(statement)
            yield _Writer(self, curs)
            for statement in indexes:
                curs.execute(statement)
            for table in TABLES:
                curs.execute(f"ANALYZE {self.statements.table(table)}")
            self._insert_tracking(curs, Tracking(self.application_name, position))


class _Writer:
    def __init__(self, store: PostgresAuditStore, curs: Cursor[DictRow]) -> None:
        self.store = store
        self.curs = curs

    def write(self, batch: AuditBatch) -> None:
        self.store._write(self.curs, batch=batch)

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]:
        return self.store._users(self.curs, aggregate_ids)


def _many(curs: Cursor[DictRow], sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        curs.executemany(sql, rows)
