"""The read model in a SQLite file of its own (the embedded default).

A tracking recorder of the `eventsourcing` library, so the position is written by the same
transaction as the rows. The file is not the event store's: the tracking table is keyed by
application name only, and the projector's writes do not contend for the event store's lock.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor

from metaledger.domain.storage import SQLITE
from metaledger.projections.readmodel import SQLiteReadModel
from metaledger.projections.search.conditions import Tables, reads_metadata
from metaledger.projections.search.errors import QueryTimeout
from metaledger.projections.search.query import QueryTranslator
from metaledger.projections.search.store import (
    COUNTS_TABLE,
    METADATA_TABLE,
    SKIPPED_TABLE,
    STATEMENT_TIMEOUT_SECONDS,
    USERS_TABLE,
    Batch,
    Found,
    SearchRequest,
    SearchResult,
    SkippedEvent,
    Statements,
    StoredUser,
    added_entries,
    chunks,
    inserted_users,
    removed_entries,
    schema_statements,
    updated_users,
    users_added,
)

TABLES = Tables(USERS_TABLE, METADATA_TABLE, COUNTS_TABLE)
# The SQLite VM calls the timeout check every this many instructions.
_PROGRESS_INTERVAL = 1_000
_MAX_PARAMETERS = 500
# From this many matches on, a sorted page walks the sort index (a match every so many rows)
# rather than sorting every match.
_MANY_MATCHES = 20_000
# ANALYZE samples this many rows of each index: approximate statistics in little time.
_ANALYSIS_ROWS = 2000
# A rebuild writes into large B-trees: a page cache of this many KiB spares most re-reads.
BULK_CACHE_KIB = 262_144
_DEFAULT_CACHE_KIB = 2_000


def _uuid_bytes(aggregate_id: UUID) -> bytes:
    return aggregate_id.bytes


class SQLiteSearchStore(SQLiteReadModel):
    translator = QueryTranslator(SQLITE, TABLES)
    statements = Statements(SQLITE, TABLES)
    # The read model's own tables and indexes (besides the library's tracking table).
    ddl = schema_statements(SQLITE)

    statement_timeout = STATEMENT_TIMEOUT_SECONDS
    label = "read model"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.ddl]

    # Reads

    def search(self, request: SearchRequest) -> SearchResult:
        with self.datastore.transaction(commit=False) as c:
            connection = c.sqlite_cursor.connection
            deadline = time.monotonic() + self.statement_timeout
            connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_INTERVAL)
            try:
                page = self.statements.page(request, correlated=self._many(c, request))
                c.execute(page.text, page.params)
                users = [
                    Found(UUID(bytes=row[1]), StoredUser(row[0], row[2], row[3]))
                    for row in c.fetchall()
                ]
                total = None
                if request.count_total:
                    count = self.statements.count(request.condition)
                    c.execute(count.text, count.params)
                    total = c.fetchone()[0]
            except sqlite3.OperationalError as error:
                if "interrupted" in str(error):
                    raise QueryTimeout(str(error)) from None
                raise
            finally:
                connection.set_progress_handler(None, 0)
        return SearchResult(users, total)

    def _many(self, c: SQLiteCursor, request: SearchRequest) -> bool:
        """Whether a sorted page should walk the sort column's index and test each row (many
        matches: the page fills early), rather than gather every match and sort them."""
        if request.sort is None or not reads_metadata(request.condition):
            return False
        probe = self.statements.count(request.condition, at_most=_MANY_MATCHES)
        c.execute(probe.text, probe.params)
        return bool(c.fetchone()[0] >= _MANY_MATCHES)

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

    def states_after(
        self, after_key: int, up_to_key: int, limit: int, connection: str | None
    ) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            page = self.statements.states_after(after_key, up_to_key, limit, connection)
            c.execute(page.text, page.params)
            return c.fetchall()  # type: ignore[no-any-return]

    def skipped_events(self) -> list[SkippedEvent]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {SKIPPED_TABLE} ORDER BY notification_id")
            return [SkippedEvent(*row) for row in c.fetchall()]

    # Writes

    def apply(self, batch: Batch) -> None:
        self.write_batch(batch.position, functools.partial(self._write, batch=batch), batch.erased)

    def _write(self, c: SQLiteCursor, *, batch: Batch) -> None:
        c.executemany(self.statements.delete_metadata, removed_entries(batch))
        c.executemany(
            f"DELETE FROM {USERS_TABLE} WHERE key = ?", [(user.key,) for user in batch.deletions]
        )
        c.executemany(self.statements.insert_user, inserted_users(batch, _uuid_bytes))
        for changed, rows in updated_users(batch).items():
            c.executemany(self.statements.update_user(changed), rows)
        c.executemany(self.statements.insert_metadata, added_entries(batch))
        c.execute(self.statements.count_users, (users_added(batch),))
        c.executemany(
            f"INSERT OR IGNORE INTO {SKIPPED_TABLE} VALUES (?, ?, ?)",
            [(s.notification_id, s.topic, s.reason) for s in batch.skipped],
        )

    @contextmanager
    def replacing(self, position: int) -> Iterator[Callable[[Batch], None]]:
        tables = [s for s in self.ddl if not s.startswith("CREATE INDEX")]
        indexes = [s for s in self.ddl if s.startswith("CREATE INDEX")]
        # One transaction: readers keep seeing the current read model until it commits.
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            for table in (USERS_TABLE, METADATA_TABLE, SKIPPED_TABLE, COUNTS_TABLE):
                c.execute(f"DROP TABLE IF EXISTS {table}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (self.application_name,))
            for statement in tables:
                c.execute(statement)
            yield lambda batch: self._write(c, batch=batch)
            for statement in indexes:  # built once from sorted keys: faster than row by row
                c.execute(statement)
            c.execute(f"PRAGMA analysis_limit = {_ANALYSIS_ROWS}")
            c.execute("ANALYZE")  # statistics for the query planner
            self._insert_tracking(c, Tracking(self.application_name, position))
            c.execute(f"PRAGMA cache_size = -{_DEFAULT_CACHE_KIB}")
