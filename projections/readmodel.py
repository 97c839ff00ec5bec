"""What the read models' stores (search, audit) share on each backend: the position they track,
the transaction that writes a projector's batch with it, clearing what an erasure freed, closing.

A read model is rebuilt from the event log whenever needed, so a batch's commit does not wait
for the disk. SQLite commits it with `synchronous = NORMAL` (in WAL mode a commit stays atomic
and the WAL reaches the disk at checkpoints), PostgreSQL with `synchronous_commit = off` (the WAL
writer flushes it within a few hundred milliseconds). A crash or power cut may lose the last
batches, rows and position together, and the projector reads them again from the log: exactly
once still holds. The event store's durability is untouched, as is that of what exists only in a
read model (the audit records the API writes directly: each in a transaction of its own, synced).
After an erasure the freed space is cleared from the files (SQLite's WAL truncated, PostgreSQL's
tables vacuumed), and again before the next batch.
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed

from metaledger.domain.storage import SECURE_DELETE, truncate_wal, vacuum
from metaledger.projections.lease import FencedTracking


class SQLiteReadModel(SQLiteTrackingRecorder):
    """A read model in a SQLite file of its own, tracked by the library's tracking table."""

    statement_timeout: float  # seconds a read may run
    label: ClassVar[str]  # how the logs name it

    def __init__(self, datastore: SQLiteDatastore, application_name: str = "UserProfiles"):
        super().__init__(datastore)
        self.application_name = application_name
        self._clear_again = False

    def position(self) -> int | None:
        return self.max_tracking_id(self.application_name)

    def write_batch(
        self, position: int, write: Callable[[SQLiteCursor], None], erased: bool
    ) -> None:
        """Runs `write` in the transaction that records `position` (refused if recorded
        already), unsynced; after an erasure, clears the freed pages from the WAL, and again
        before the next batch in case a reader held the first attempt back."""
        if self._clear_again:
            self._truncate_wal()
        with self.datastore.get_connection(commit=True) as connection:
            # Set outside the transaction (SQLite refuses it inside), and set back afterwards:
            # the connection returns to a pool that also writes what must be synced.
            connection.cursor().execute("PRAGMA synchronous = NORMAL")
            try:
                with connection.transaction(commit=True) as c:
                    # On every write, not just an erasure's: the versions of rows that updates
                    # and deletions freed earlier are still in the pages otherwise.
                    c.execute(SECURE_DELETE)
                    # First write: takes the write lock, and refuses a position already recorded.
                    self._insert_tracking(c, Tracking(self.application_name, position))
                    write(c)
            finally:
                with contextlib.suppress(sqlite3.Error):  # a broken connection is not reused
                    connection.cursor().execute("PRAGMA synchronous = FULL")
        self._clear_again = erased
        if erased:
            self._truncate_wal()

    def _truncate_wal(self) -> None:
        with self.datastore.get_connection(commit=True) as connection:
            truncate_wal(connection.cursor(), self.label)

    def close(self) -> None:
        self.datastore.close()


class PostgresReadModel(FencedTracking):
    """A read model's tables in PostgreSQL beside the event store's, tracked by the library
    (behind a lease's fence when one is set)."""

    statement_timeout: float  # seconds a read may run
    erasable: ClassVar[Sequence[str]]  # the tables that hold users' values

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        tracking_table_name: str,
        application_name: str = "UserProfiles",
    ):
        super().__init__(datastore, tracking_table_name=tracking_table_name)
        self.application_name = application_name
        self.schema = datastore.schema
        # The read model's own tables and indexes (besides the library's tracking table).
        self.ddl = self.prepare()
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in self.ddl)
        self._clear_again = False

    @abstractmethod
    def prepare(self) -> list[str]:
        """Sets up the store's statements for its schema; returns its tables' and indexes' DDL."""

    def position(self) -> int | None:
        position: int | None = self.max_tracking_id(self.application_name)
        return position

    def write_batch(
        self, position: int, write: Callable[[Cursor[DictRow]], None], erased: bool
    ) -> None:
        """Runs `write` in the transaction that records `position` (refused if recorded
        already), unsynced; after an erasure, vacuums the tables, and again before the next
        batch: a transaction older than the erasure (another follower's, a reader's) keeps the
        dead rows from the first VACUUM, and by the next batch it has ended."""
        if self._clear_again:
            self._vacuum()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL synchronous_commit = off")
            # First: refuses a position already recorded, and serialises concurrent projectors.
            self._insert_tracking(curs, Tracking(self.application_name, position))
            write(curs)
        self._clear_again = erased
        if erased:
            self._vacuum()

    def _vacuum(self) -> None:
        # VACUUM reads each index of the tables whole, so the cost grows with the read model
        # (erasures in one batch share it).
        with self.datastore.get_connection() as connection:
            vacuum(connection, [f"{self.schema}.{table}" for table in self.erasable])

    def close(self) -> None:
        self.datastore.close()


def unnest(columns: Sequence[str], types: Mapping[str, str]) -> str:
    """Rows given as one array a column (see `arrays`), as the relation `v`; each array is of
    the column's type in `types`, text if not listed."""
    # In binary: as text, the server parses each array whole, a cost by the row (a user's
    # state as hex) that made a batch slower than a statement a row.
    given = ", ".join(f"%b::{types.get(column, 'text')}[]" for column in columns)
    return f"unnest({given}) AS v({', '.join(columns)})"


def arrays(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """The rows as one list a column: the parameters of `unnest`."""
    return [list(column) for column in zip(*rows, strict=True)]


def insert_rows(
    curs: Cursor[DictRow],
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    types: Mapping[str, str],
    conflict: str = "",
) -> None:
    """Rows inserted by one statement, from arrays: unlike COPY, it can be pipelined, and
    unlike an INSERT a row, the server executes it once."""
    if rows:
        curs.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT * FROM {unnest(columns, types)}{conflict}",
            arrays(rows),
        )


def copy_rows(
    curs: Cursor[DictRow], table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Rows sent in one COPY stream, where an INSERT a row costs a round of the protocol."""
    if rows:
        with curs.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
