"""Application recorders that write, in the events' own transaction, the tables kept beside
them: the unique email index, the users' keys and the timestamp → version index (SQLite and
PostgreSQL). They implement the domain's `TablesBesideEvents` port, and run other components'
statements on tables of their own in the same database (`SqlTables`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from metaledger.domain.ports import EmailTakenError, KeyRecord, TablesBesideEvents, as_uuid
from metaledger.domain.storage.dialect import POSTGRES, SQLITE, Dialect
from metaledger.domain.storage.email_index import (
    EMAIL_INDEX_TABLE,
    EmailIndexStatements,
    is_email_conflict,
    write_claims,
)
from metaledger.domain.storage.event_times import (
    EVENT_TIMES_TABLE,
    EventTimeStatements,
    microseconds,
    write_times,
)
from metaledger.domain.storage.residue import truncate_wal, vacuum
from metaledger.domain.storage.shredding import SealedStoredEvent
from metaledger.domain.storage.user_keys import (
    USER_KEYS_TABLE,
    UserKeyStatements,
    key_records,
    write_keys,
)
from metaledger.domain.storage.writer_lock import exclusive

ExecuteMany = Callable[[str, Sequence[Sequence[Any]]], object]


class EmailConflicts(ApplicationRecorder):
    """Tells an email-index conflict apart from a version conflict (which is retried)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        try:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)  # type: ignore[safe-super]
        except IntegrityError as error:
            if is_email_conflict(error):
                raise EmailTakenError from error
            raise
        return ids


class SideTables:
    """Writes and reads of the email index, the key table and the event-time index (the port
    `TablesBesideEvents`, which each recorder names last among its bases, after the library's
    classes, so that the protocol's own `__init__` does not cut their chain); and
    statements of other components on tables of their own, named by `table`."""

    email_index: EmailIndexStatements
    user_keys: UserKeyStatements
    event_times: EventTimeStatements

    def _tables(
        self, dialect: Dialect, prefix: str, schema: str | None, events_table: str
    ) -> list[str]:
        self.dialect = dialect
        self._prefix = prefix
        self._schema = schema
        p = dialect.placeholder
        after = (
            f"SELECT {dialect.position} AS position, originator_id, originator_version, topic, "
            f"state FROM {events_table} WHERE {dialect.position} > {p}"
        )
        self._events_after = f"{after} ORDER BY position LIMIT {p}"
        self._events_of_topics_after = (
            f"{after} AND {dialect.any_of.format('topic')} ORDER BY position LIMIT {p}"
        )
        # The same rows with each user's data key beside: one indexed lookup a row in the
        # database costs less than a second query and its ids mapped back in Python.
        keys_table = dialect.table(prefix + USER_KEYS_TABLE, schema)
        self._events_with_keys_after = (
            f"SELECT e.{dialect.position} AS position, e.originator_id, e.originator_version, "
            f"e.topic, e.state, k.key FROM {events_table} e LEFT JOIN {keys_table} k "
            f"ON k.aggregate_id = e.originator_id WHERE e.{dialect.position} > {p} "
            f"ORDER BY position LIMIT {p}"
        )
        self.email_index = EmailIndexStatements(dialect, prefix + EMAIL_INDEX_TABLE, schema)
        self.user_keys = UserKeyStatements(dialect, prefix + USER_KEYS_TABLE, schema)
        self.event_times = EventTimeStatements(dialect, prefix + EVENT_TIMES_TABLE, schema)
        return [*self.email_index.create, *self.user_keys.create, *self.event_times.create]

    def table(self, name: str) -> str:
        """The full name of a table of this database named `name` (prefixed on PostgreSQL as
        the event store's own tables are)."""
        return self.dialect.table(self._prefix + name, self._schema)

    def _write_beside(
        self,
        executemany: ExecuteMany,
        stored_events: Sequence[StoredEvent],
        kwargs: dict[str, Any],
    ) -> None:
        sealed = [s for s in stored_events if isinstance(s, SealedStoredEvent)]
        write_keys(
            executemany,
            self.user_keys,
            [s.new_key for s in sealed if s.new_key is not None],
            [as_uuid(s.originator_id) for s in sealed if s.destroys_key],
        )
        # Before the email claims: a stale save then conflicts as such (and is retried), not
        # as a taken email when it claims the email a write meanwhile gave the same user.
        write_times(
            executemany,
            self.event_times,
            [(as_uuid(s.originator_id), s.originator_version, s.recorded_at) for s in sealed],
        )
        write_claims(executemany, self.email_index, kwargs.get("email_claims", ()))

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query, as mappings by column name."""
        raise NotImplementedError

    def write(self, statement: str, params: Sequence[Any] = ()) -> None:
        """Runs one statement in a transaction of its own."""
        raise NotImplementedError

    def user_ids_by_email(self, email: str) -> list[str]:
        return [row["user_id"] for row in self.rows(self.email_index.select_by_email, (email,))]

    def user_keys_of(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, KeyRecord]:
        if not aggregate_ids:
            return {}
        ids = {self.dialect.id_param(id_): id_ for id_ in aggregate_ids}
        return key_records(
            self.rows(self.user_keys.select, (self.dialect.list_param(list(ids)),)), ids
        )

    def version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        """The user's last version recorded at or before `moment`, None if there is none."""
        params = (self.dialect.id_param(aggregate_id), microseconds(moment))
        rows = self.rows(self.event_times.version_at, params)
        return int(rows[0]["version"]) if rows else None

    def events_after(self, position: int, limit: int, topics: Sequence[str] = ()) -> list[Any]:
        """Rows (position, originator_id, originator_version, topic, state) in log order: the
        notification log without the library's per-row objects, for bulk readers."""
        if topics:
            params = (position, self.dialect.list_param(topics), limit)
            return self.rows(self._events_of_topics_after, params)
        return self.rows(self._events_after, (position, limit))

    def events_with_keys_after(self, position: int, limit: int) -> list[Any]:
        return self.rows(self._events_with_keys_after, (position, limit))


def _id_text(originator_id: UUID | str) -> str:
    """An originator id as the library's SQLite recorder writes it."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def _destroys_a_key(stored_events: Sequence[StoredEvent]) -> bool:
    return any(isinstance(s, SealedStoredEvent) and s.destroys_key for s in stored_events)


class SQLiteProfilesRecorder(
    SideTables, EmailConflicts, SQLiteApplicationRecorder, TablesBesideEvents
):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        self._beside = self._tables(SQLITE, "", None, events_table_name)
        super().__init__(datastore, events_table_name)
        self._max_rowid = f"SELECT MAX(rowid) FROM {events_table_name}"
        self._rowids_after = f"SELECT rowid FROM {events_table_name} WHERE rowid > ? ORDER BY rowid"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._beside]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self._writing():
            ids = super().insert_events(stored_events, **kwargs)
        if _destroys_a_key(stored_events):
            self._truncate_wal()
        return ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = self._insert_rows(c, stored_events)
        if _destroys_a_key(stored_events):
            # Freed cells are zeroed rather than left in the file (a build default on Debian).
            c.execute("PRAGMA secure_delete = ON")
        self._write_beside(c.executemany, stored_events, kwargs)
        return ids

    def _insert_rows(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The events in one statement (the library inserts them a row at a time to read each
        row id); their row ids are the ones after the table's largest, read back in order,
        since the writer lock keeps any other append out of this transaction."""
        c.execute(self._max_rowid)
        (last,) = c.fetchone()
        c.executemany(
            self.insert_events_statement,
            [
                (_id_text(s.originator_id), s.originator_version, s.topic, s.state)
                for s in stored_events
            ],
        )
        c.execute(self._rowids_after, (last or 0,))
        return [row[0] for row in c.fetchall()]

    def _writing(self) -> AbstractContextManager[None]:
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:  # one process: the pool's writer lock is enough
            return nullcontext()
        return exclusive(f"{pool.db_name}-writer")

    def _truncate_wal(self) -> None:
        """The pages that held the destroyed key and the released email, out of the WAL."""
        with self.datastore.get_connection(commit=True) as connection:
            truncate_wal(connection.cursor(), "event store")

    def write(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self._writing(), self.datastore.transaction(commit=True) as c:
            c.execute(statement, params)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            rows: list[Any] = c.fetchall()
            return rows


class PostgresAppend(PostgresApplicationRecorder):
    """The library's append of events, made safe to fail: a failed statement rolls its
    transaction back, and the retry after a lost connection finds what an attempt committed.

    psycopg counts a statement as prepared once it sends the PREPARE; when a statement before
    it in the pipeline fails, the server skips that PREPARE. The library catches the failure
    inside its transaction and commits (PostgreSQL rolls back instead, unseen by psycopg), so
    the connection went back to the pool naming a statement the server never prepared, and
    its next writes failed ("prepared statement "_pg3_6" does not exist"). Here the failure
    leaves through psycopg's transaction, whose ROLLBACK makes psycopg forget its prepared
    statements and DEALLOCATE them on the server, so both sides agree again.
    """

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        attempts = 0

        @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # the library's
        def attempt() -> Sequence[int] | None:
            nonlocal attempts
            attempts += 1
            return self._insert_once(stored_events, **kwargs)

        try:
            ids: Sequence[int] | None = attempt()
        except IntegrityError:
            committed = self._ids_if_stored(stored_events) if attempts > 1 else None
            if committed is None:
                raise
            return committed
        return ids

    def _insert_once(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection() as conn,
            conn.pipeline() as pipeline,
            conn.transaction(),
        ):
            try:
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if not stored_events:
                    return None
                with conn.cursor() as curs:  # its results: the inserted rows
                    self._insert_stored_events(curs, stored_events, **kwargs)
                    pipeline.sync()  # raises the first failed statement as itself
                    return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            except Exception:
                # Leaves the pipeline's aborted state (its errors are the one raised), so that
                # the server runs the ROLLBACK that follows rather than skipping it.
                with contextlib.suppress(psycopg.Error):
                    pipeline.sync()
                raise

    def _ids_if_stored(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of `stored_events` if exactly these events are stored (an
        attempt committed them and only its acknowledgement was lost), else None. Each
        event's state is sealed under a fresh nonce, so equal bytes are this append's own."""
        params = (
            [str(s.originator_id) for s in stored_events],
            [s.originator_version for s in stored_events],
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_stored, params)
            rows = {(str(r["originator_id"]), r["originator_version"]): r for r in curs}
        ids = []
        for s in stored_events:
            row = rows.get((str(s.originator_id), s.originator_version))
            if row is None or row["topic"] != s.topic or bytes(row["state"]) != s.state:
                return None
            ids.append(int(row["notification_id"]))
        return ids

    @property
    def _select_stored(self) -> Composed:
        return SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id "
            "FROM {schema}.{table} WHERE originator_id = ANY(%s::{id_type}[]) "
            "AND originator_version = ANY(%s::bigint[])"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=SQL(self.datastore.originator_id_type),
        )


class PostgresProfilesRecorder(SideTables, EmailConflicts, PostgresAppend, TablesBesideEvents):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events") + "_"
        beside = self._tables(
            POSTGRES, prefix, datastore.schema, f"{datastore.schema}.{events_table_name}"
        )
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in beside)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        if _destroys_a_key(stored_events):
            self._vacuum_side_tables()
        return ids

    def _vacuum_side_tables(self) -> None:
        """Removes the row versions an erasure left dead: the key before it was destroyed and
        the released email index entry (the events themselves are sealed and never change)."""
        with self.datastore.get_connection() as connection:
            vacuum(connection, [self.table(USER_KEYS_TABLE), self.table(EMAIL_INDEX_TABLE)])

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # Called in the events' transaction before the events table's lock is taken, which
        # serialises every writer until commit: the lock is held for the events alone.
        self._write_beside(curs.executemany, stored_events, kwargs)

    def write(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self.datastore.get_connection() as connection, connection.cursor() as curs:
            curs.execute(statement, params)  # autocommit: one statement, one transaction

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        # One statement needs no transaction; and a transaction's ROLLBACK would make psycopg
        # drop the connection's prepared statements (DEALLOCATE ALL), to be parsed and
        # planned again by the writes that follow.
        with self.datastore.get_connection() as connection, connection.cursor() as curs:
            curs.execute(statement, params)
            return curs.fetchall()
