"""Application recorders that keep the email index with the events (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed

from domain.storage.email_index import (
    EMAIL_INDEX_TABLE,
    EmailIndexStatements,
    EmailTakenError,
    is_email_conflict,
    write_claims,
)


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


class SQLiteProfilesRecorder(EmailConflicts, SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        self.email_index = EmailIndexStatements(EMAIL_INDEX_TABLE, "?")
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.email_index.create]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        write_claims(c.execute, self.email_index, kwargs.get("email_claims", ()))
        return ids

    def user_ids_by_email(self, email: str) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.email_index.select_by_email, (email,))
            return [row["user_id"] for row in c.fetchall()]


class PostgresProfilesRecorder(EmailConflicts, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        prefix = events_table_name.removesuffix("_events")
        self.email_index = EmailIndexStatements(
            f"{prefix}_{EMAIL_INDEX_TABLE}", "%s", schema=datastore.schema
        )
        self.sql_create_statements.extend(Composed([SQL(s)]) for s in self.email_index.create)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # After the library's insert, which takes the table lock and may conflict first; on a
        # cursor of its own, since the library reads the new notification ids from `curs`.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        with curs.connection.cursor() as index_cursor:
            write_claims(index_cursor.execute, self.email_index, kwargs.get("email_claims", ()))

    def user_ids_by_email(self, email: str) -> list[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.email_index.select_by_email, (email,))
            return [row["user_id"] for row in curs.fetchall()]
