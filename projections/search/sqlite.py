"""The read model in a SQLite file of its own (the embedded default).

A tracking recorder of the `eventsourcing` library, so the position is written by the same
transaction as the rows. The file is not the event store's: the tracking table is keyed by
application name only, and the projector's writes do not contend for the event store's lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from projections.search.errors import QueryTimeout
from projections.search.query import Dialect, QueryTranslator, glob_pattern
from projections.search.store import (
    METADATA_TABLE,
    SKIPPED_TABLE,
    STATEMENT_TIMEOUT_SECONDS,
    USERS_TABLE,
    Batch,
    ColumnTypes,
    Found,
    SearchRequest,
    SearchResult,
    SkippedEvent,
    Statements,
    StoredUser,
    added_entries,
    chunks,
    removed_entries,
    row_values,
    schema_statements,
)

DIALECT = Dialect(
    marker="?",
    users_table=USERS_TABLE,
    metadata_table=METADATA_TABLE,
    pattern_operator="GLOB",
    pattern=glob_pattern,
)
_TYPES = ColumnTypes(
    text="TEXT",
    integer="INTEGER",
    boolean="INTEGER",
    real="REAL",
    uuid="BLOB",
    blob="BLOB",
    rowid_key=True,
    nulls_first="",
)
# The SQLite VM calls the timeout check every this many instructions.
_PROGRESS_INTERVAL = 1_000
_MAX_PARAMETERS = 500


class SQLiteSearchStore(SQLiteTrackingRecorder):
    translator = QueryTranslator(DIALECT)
    statements = Statements(DIALECT)
    # The read model's own tables and indexes (besides the library's tracking table).
    ddl = schema_statements(_TYPES)

    def __init__(self, datastore: SQLiteDatastore, application_name: str = "UserProfiles"):
        super().__init__(datastore)
        self.application_name = application_name
        self.statement_timeout = STATEMENT_TIMEOUT_SECONDS

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.ddl]

    # Reads

    def search(self, request: SearchRequest) -> SearchResult:
        page_sql, page_params = self.statements.page(request)
        with self.datastore.transaction(commit=False) as c:
            connection = c.sqlite_cursor.connection
            deadline = time.monotonic() + self.statement_timeout
            connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_INTERVAL)
            try:
                c.execute(page_sql, page_params)
                users = [
                    Found(row[0], StoredUser(row[0], row[2], row[3]).restore(UUID(bytes=row[1])))
                    for row in c.fetchall()
                ]
                total = None
                if request.count_total:
                    c.execute(*self.statements.count(request))
                    total = c.fetchone()[0]
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise QueryTimeout(str(error)) from None
                raise
            finally:
                connection.set_progress_handler(None, 0)
        return SearchResult(users, total)

    def position(self) -> int | None:
        return self.max_tracking_id(self.application_name)

    def load(self, aggregate_ids: Collection[UUID]) -> dict[UUID, StoredUser]:
        found: dict[UUID, StoredUser] = {}
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(aggregate_ids, _MAX_PARAMETERS):
                markers = ", ".join("?" for _ in chunk)
                c.execute(
                    self.statements.select_users(f"aggregate_id IN ({markers})"),
                    [aggregate_id.bytes for aggregate_id in chunk],
                )
                for key, aggregate_id, version, state in c.fetchall():
                    found[UUID(bytes=aggregate_id)] = StoredUser(key, version, state)
        return found

    def skipped_events(self) -> list[SkippedEvent]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {SKIPPED_TABLE} ORDER BY notification_id")
            return [SkippedEvent(*row) for row in c.fetchall()]

    # Writes

    def apply(self, batch: Batch) -> None:
        with self.datastore.transaction(commit=True) as c:
            # First: takes the write lock, and refuses a position already recorded.
            self._insert_tracking(c, Tracking(self.application_name, batch.position))
            self._write(c, batch)

    def _write(self, c: SQLiteCursor, batch: Batch) -> None:
        c.executemany(self.statements.delete_metadata, removed_entries(batch))
        c.executemany(
            f"DELETE FROM {USERS_TABLE} WHERE key = ?", [(user.key,) for user in batch.deletions]
        )
        c.executemany(
            self.statements.upsert_user,
            [row_values(row, row.aggregate_id.bytes) for row in batch.upserts],
        )
        c.executemany(self.statements.insert_metadata, added_entries(batch))
        c.executemany(
            f"INSERT OR IGNORE INTO {SKIPPED_TABLE} VALUES (?, ?, ?)",
            [(s.notification_id, s.topic, s.reason) for s in batch.skipped],
        )

    def reset(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in (USERS_TABLE, METADATA_TABLE, SKIPPED_TABLE):
                c.execute(f"DROP TABLE IF EXISTS {table}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (self.application_name,))
            for statement in self.ddl:
                c.execute(statement)

    def close(self) -> None:
        self.datastore.close()
