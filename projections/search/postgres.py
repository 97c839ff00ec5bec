"""The read model in PostgreSQL tables of its own, beside the event store.

Text columns use the "C" collation: comparisons and order are by code point, as in SQLite, so a
prefix wildcard is an index range and both backends sort alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import Tracking
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row

from metaledger.domain.storage import POSTGRES
from metaledger.projections.readmodel import (
    PostgresReadModel,
    arrays,
    copy_rows,
    insert_rows,
    unnest,
)
from metaledger.projections.search.bitmaps import CollectedBitmaps, Rows, ValueBitmaps
from metaledger.projections.search.conditions import Tables
from metaledger.projections.search.errors import QueryTimeout
from metaledger.projections.search.fields import ROOT_FIELDS, Kind
from metaledger.projections.search.query import QueryTranslator
from metaledger.projections.search.store import (
    BITMAPS_TABLE,
    COUNTS_TABLE,
    METADATA_TABLE,
    SKIPPED_TABLE,
    STATEMENT_TIMEOUT_SECONDS,
    USERS_TABLE,
    VALUES_TABLE,
    Batch,
    Found,
    SearchRequest,
    SearchResult,
    SkippedEvent,
    Statements,
    StoredUser,
    added_entries,
    inserted_users,
    removed_entries,
    schema_statements,
    updated_users,
    users_added,
)


class PostgresSearchStore(PostgresReadModel):
    statement_timeout = STATEMENT_TIMEOUT_SECONDS
    erasable = (USERS_TABLE, METADATA_TABLE, VALUES_TABLE, BITMAPS_TABLE)

    def prepare(self) -> list[str]:
        tables = Tables(
            f"{self.schema}.{USERS_TABLE}",
            f"{self.schema}.{METADATA_TABLE}",
            f"{self.schema}.{COUNTS_TABLE}",
        )
        self.translator = QueryTranslator(POSTGRES, tables)
        self.statements = Statements(POSTGRES, tables)
        self.bitmaps = ValueBitmaps(
            tables.users,
            tables.metadata,
            f"{self.schema}.{BITMAPS_TABLE}",
            f"{self.schema}.{VALUES_TABLE}",
        )
        return [
            *schema_statements(POSTGRES, f"{self.schema}."),
            *self.bitmaps.ddl,
            # A path and a value are not independent: without statistics on the pairs, the
            # planner takes `plan = pro` for a rare value and picks nested loops.
            f"CREATE STATISTICS IF NOT EXISTS {self.schema}.{METADATA_TABLE}_values (mcv) "
            f"ON path, text FROM {self.schema}.{METADATA_TABLE}",
        ]

    # Reads

    def search(self, request: SearchRequest) -> SearchResult:
        page = self.statements.page(request)
        timeout_ms = max(1, int(self.statement_timeout * 1000))  # 0 would mean no timeout
        with self.datastore.get_connection() as connection:
            try:
                with connection.transaction(), connection.cursor() as curs:
                    # One snapshot for the page and its total. Merging key sets in one process
                    # beats hashing them in several: a search keeps to one core, which leaves
                    # the others to the API and the projector. One round trip for the three.
                    curs.execute(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                        f"SET LOCAL statement_timeout = {timeout_ms}; "
                        "SET LOCAL max_parallel_workers_per_gather = 0"
                    )
                    curs.execute(page.text, page.params)
                    users = [
                        Found(
                            row["aggregate_id"],
                            StoredUser(row["key"], row["version"], row["state"]),
                        )
                        for row in curs.fetchall()
                    ]
                    total = self._total(curs, request) if request.count_total else None
            except psycopg.errors.QueryCanceled as error:
                raise QueryTimeout(str(error)) from None
        return SearchResult(users, total)

    def _total(self, curs: Cursor[DictRow], request: SearchRequest) -> int:
        by_bitmaps = self.bitmaps.count(request.condition)
        if by_bitmaps is not None:
            curs.execute(by_bitmaps.text, by_bitmaps.params)
            counted = curs.fetchone()
            if counted is not None and counted["complete"]:
                return int(counted["total"])
        count = self.statements.count(request.condition)
        curs.execute(count.text, count.params)
        return _first(curs)

    def load(self, aggregate_ids: Collection[UUID]) -> dict[UUID, StoredUser]:
        with self.datastore.get_connection() as connection:  # one statement: no transaction
            curs = connection.execute(
                self.statements.select_users("aggregate_id = ANY(%s)"), (list(aggregate_ids),)
            )
            return {
                row["aggregate_id"]: StoredUser(row["key"], row["version"], bytes(row["state"]))
                for row in curs.fetchall()
            }

    def states_after(
        self, after_key: int, up_to_key: int, limit: int, connection: str | None
    ) -> list[tuple[int, bytes]]:
        with (
            self.datastore.get_connection() as database,
            database.cursor(row_factory=tuple_row) as curs,  # cheaper than a dict a row
        ):
            page = self.statements.states_after(after_key, up_to_key, limit, connection)
            curs.execute(page.text, page.params)
            return curs.fetchall()

    def skipped_events(self) -> list[SkippedEvent]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT notification_id, topic, reason FROM {self.schema}.{SKIPPED_TABLE} "
                "ORDER BY notification_id"
            )
            return [
                SkippedEvent(row["notification_id"], row["topic"], row["reason"])
                for row in curs.fetchall()
            ]

    # Writes

    def apply(self, batch: Batch) -> None:
        self.write_batch(batch.position, functools.partial(self._pipelined, batch), batch.erased)

    def _pipelined(self, batch: Batch, curs: Cursor[DictRow]) -> None:
        """The rows in one round trip: queued in a pipeline (which takes no COPY)."""
        with curs.connection.pipeline():
            self._write(curs, batch, _insert_rows, self.bitmaps)

    def _write(
        self, curs: Cursor[DictRow], batch: Batch, insert: RowWriter, bitmaps: BitmapWrites
    ) -> None:
        # A statement for each step, over the batch's rows given as arrays: an UPDATE or
        # INSERT a row costs the server an execution each, even pipelined.
        removed = removed_entries(batch)
        if removed:
            curs.execute(
                f"DELETE FROM {self.schema}.{METADATA_TABLE} m "
                f"USING {unnest(('path', 'text', 'key'), _ARRAY_TYPES)} "
                "WHERE m.path = v.path AND m.text = v.text AND m.key = v.key",
                arrays(removed),
            )
        bitmaps.entries_removed(curs, removed)
        if batch.deletions:
            curs.execute(
                f"DELETE FROM {self.schema}.{USERS_TABLE} WHERE key = ANY(%s)",
                ([user.key for user in batch.deletions],),
            )
        insert(
            curs,
            f"{self.schema}.{USERS_TABLE}",
            (*self.statements.columns, *bitmaps.slot_columns),
            bitmaps.new_users(inserted_users(batch, lambda aggregate_id: aggregate_id)),
        )
        for changed, rows in updated_users(batch).items():
            columns = ("version", "state", *changed)
            assignments = ", ".join(f"{column} = v.{column}" for column in columns)
            curs.execute(
                f"UPDATE {self.schema}.{USERS_TABLE} u SET {assignments} "
                f"FROM {unnest((*columns, 'key'), _ARRAY_TYPES)} WHERE u.key = v.key",
                arrays(rows),
            )
        added = added_entries(batch)
        insert(curs, f"{self.schema}.{METADATA_TABLE}", ("path", "text", "key", "num"), added)
        bitmaps.entries_added(curs, added, removed)
        curs.execute(self.statements.count_users, (users_added(batch),))
        insert(
            curs,
            f"{self.schema}.{SKIPPED_TABLE}",
            ("notification_id", "topic", "reason"),
            [(s.notification_id, s.topic, s.reason) for s in batch.skipped],
        )

    @contextmanager
    def replacing(self, position: int) -> Iterator[Callable[[Batch], None]]:
        tables = [s for s in self.ddl if not s.startswith("CREATE INDEX")]
        indexes = [s for s in self.ddl if s.startswith("CREATE INDEX")]
        # One transaction: searches wait for it (the tables are locked) and never see a part.
        with self.datastore.transaction(commit=True) as curs:
            # Between writes the transaction waits while the log is folded: not idle for good.
            curs.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            for table in (
                USERS_TABLE,
                METADATA_TABLE,
                SKIPPED_TABLE,
                COUNTS_TABLE,
                BITMAPS_TABLE,
                VALUES_TABLE,
            ):
                curs.execute(f"DROP TABLE IF EXISTS {self.schema}.{table}")
            curs.execute(
                f"DELETE FROM {self.schema}.{self.tracking_table_name} WHERE application_name = %s",
                (self.application_name,),
            )
            for statement in tables:
                curs.execute(statement)
            collected = CollectedBitmaps(self.bitmaps)
            # COPY: a rebuild writes many rows.
            yield lambda batch: self._write(curs, batch, copy_rows, collected)
            collected.write(curs)
            for statement in indexes:  # built once from sorted keys: faster than row by row
                curs.execute(statement)
            curs.execute(f"ANALYZE {self.schema}.{USERS_TABLE}")
            curs.execute(f"ANALYZE {self.schema}.{METADATA_TABLE}")
            self._insert_tracking(curs, Tracking(self.application_name, position))


class BitmapWrites(Protocol):
    """Keeps the bitmaps beside a batch's writes: in SQL live, in memory for a rebuild."""

    slot_columns: ClassVar[tuple[str, ...]]  # given with new users' rows

    def new_users(self, users: Rows) -> Rows: ...

    def entries_removed(self, curs: Cursor[DictRow], removed: Rows) -> None: ...

    def entries_added(self, curs: Cursor[DictRow], added: Rows, removed: Rows) -> None: ...


RowWriter = Callable[[Cursor[DictRow], str, Sequence[str], Sequence[tuple[Any, ...]]], None]


# The types of the read model's columns that are not text, for their values sent as arrays.
_ARRAY_TYPES = {
    "key": "bigint",
    "aggregate_id": "uuid",
    "version": "bigint",
    "state": "bytea",
    "num": "double precision",
    "notification_id": "bigint",
    **{f.column: "boolean" for f in ROOT_FIELDS.values() if f.kind is Kind.BOOLEAN},
    **{f.column: "bigint" for f in ROOT_FIELDS.values() if f.kind is Kind.INTEGER},
}


def _insert_rows(
    curs: Cursor[DictRow], table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    insert_rows(curs, table, columns, rows, _ARRAY_TYPES)


def _first(curs: Cursor[DictRow]) -> int:
    row = curs.fetchone()
    assert row is not None
    return int(next(iter(row.values())))
