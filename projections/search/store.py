"""The read model's interface, and what both backends share: requests, batches and SQL."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from uuid import UUID

from domain.user import User
from projections.search.documents import RemovedUser, UserRow, decode_state
from projections.search.fields import COLUMNS, ROOT_FIELDS, Kind
from projections.search.query import Condition, Dialect, QueryTranslator, all_of

USERS_TABLE = "search_users"
METADATA_TABLE = "search_metadata"
SKIPPED_TABLE = "search_skipped"
# Searches run at most this long, as on Auth0, then fail with 503.
STATEMENT_TIMEOUT_SECONDS = 2.0

# Root fields with an index of their own (sortable quickly, searchable without a scan).
INDEXED_COLUMNS: tuple[str, ...] = tuple(
    f.column for f in ROOT_FIELDS.values() if f.name not in ("last_ip", "phone_verified")
)


@dataclass(frozen=True)
class Sort:
    column: str
    descending: bool
    nullable: bool

    def order_by(self) -> str:
        """A missing value sorts before every value (SQLite's own order, which PostgreSQL's
        indexes on nullable columns follow), so an index delivers either direction."""
        if self.descending:
            nulls = " NULLS LAST" if self.nullable else ""
            return f"u.{self.column} DESC{nulls}, u.key DESC"
        nulls = " NULLS FIRST" if self.nullable else ""
        return f"u.{self.column} ASC{nulls}, u.key ASC"


@dataclass(frozen=True)
class SearchRequest:
    condition: Condition
    sort: Sort | None = None
    offset: int = 0
    limit: int = 50
    count_total: bool = False
    after_key: int | None = None  # checkpoint paging: only users after this key, in key order


@dataclass(frozen=True)
class Found:
    key: int
    user: User


@dataclass(frozen=True)
class SearchResult:
    users: list[Found]
    total: int | None


@dataclass(frozen=True)
class StoredUser:
    key: int
    version: int
    state: bytes

    def restore(self, aggregate_id: UUID) -> User:
        return decode_state(self.state, aggregate_id, self.version)


@dataclass(frozen=True)
class SkippedEvent:
    notification_id: int
    topic: str
    reason: str


@dataclass
class Batch:
    """What one transaction writes: the changed users and the position reached."""

    position: int
    upserts: list[UserRow] = field(default_factory=list)
    deletions: list[RemovedUser] = field(default_factory=list)
    skipped: list[SkippedEvent] = field(default_factory=list)


class SearchStore(Protocol):
    application_name: str
    translator: QueryTranslator
    statement_timeout: float  # seconds a search may run before it fails with QueryTimeout
    ddl: list[str]  # the read model's tables and indexes

    def search(self, request: SearchRequest) -> SearchResult: ...

    def position(self) -> int | None:
        """The position of the last event the read model has applied."""

    def load(self, aggregate_ids: Collection[UUID]) -> dict[UUID, StoredUser]: ...

    def apply(self, batch: Batch) -> None:
        """Writes the batch and its position in one transaction; a position that is not past
        the recorded one raises (the batch was already applied) and writes nothing."""

    def skipped_events(self) -> list[SkippedEvent]: ...

    def reset(self) -> None:
        """Drops and recreates the read model's tables: position 0, no users."""

    def close(self) -> None: ...


def wait_for(store: SearchStore, position: int, timeout: float) -> bool:
    """Blocks until the read model reached `position`; False when `timeout` ran out first."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if (store.position() or 0) >= position:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)


def chunks(items: Collection[Any], size: int) -> Iterator[list[Any]]:
    listed = list(items)
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


@dataclass(frozen=True)
class Statements:
    """The SQL both backends run, in the backend's dialect."""

    dialect: Dialect
    columns: tuple[str, ...] = ("key", "aggregate_id", "version", *COLUMNS, "state")

    @cached_property
    def upsert_user(self) -> str:
        m = self.dialect.marker
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns[1:])
        return (
            f"INSERT INTO {self.dialect.users_table} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join(m for _ in self.columns)}) "
            f"ON CONFLICT (key) DO UPDATE SET {updates}"
        )

    @cached_property
    def delete_metadata(self) -> str:
        m = self.dialect.marker
        return (
            f"DELETE FROM {self.dialect.metadata_table} "
            f"WHERE path = {m} AND text = {m} AND key = {m}"
        )

    @cached_property
    def insert_metadata(self) -> str:
        m = self.dialect.marker
        return (
            f"INSERT INTO {self.dialect.metadata_table} (path, text, key, num) "
            f"VALUES ({m}, {m}, {m}, {m})"
        )

    def select_users(self, condition: str) -> str:
        return (
            f"SELECT key, aggregate_id, version, state FROM {self.dialect.users_table} "
            f"WHERE {condition}"
        )

    def page(self, request: SearchRequest) -> tuple[str, tuple[Any, ...]]:
        m = self.dialect.marker
        condition = self.where(request)
        order = request.sort.order_by() if request.sort else "u.key ASC"
        sql = (
            f"SELECT u.key, u.aggregate_id, u.version, u.state "
            f"FROM {self.dialect.users_table} u WHERE {condition.sql} "
            f"ORDER BY {order} LIMIT {m} OFFSET {m}"
        )
        return sql, (*condition.params, request.limit, request.offset)

    def count(self, request: SearchRequest) -> tuple[str, tuple[Any, ...]]:
        condition = self.where(request)
        sql = f"SELECT count(*) FROM {self.dialect.users_table} u WHERE {condition.sql}"
        return sql, condition.params

    def where(self, request: SearchRequest) -> Condition:
        if request.after_key is None:
            return request.condition
        after = Condition(f"u.key > {self.dialect.marker}", (request.after_key,))
        return all_of([request.condition, after])


@dataclass(frozen=True)
class ColumnTypes:
    """A backend's SQL types for the read model's tables."""

    text: str
    integer: str
    boolean: str
    real: str
    uuid: str
    blob: str
    # SQLite keys a table by its rowid: an index holds it, and needs no key column.
    rowid_key: bool
    # How an index on a nullable column puts NULL first (SQLite does without being told).
    nulls_first: str

    def of(self, kind: Kind) -> str:
        if kind is Kind.BOOLEAN:
            return self.boolean
        return self.integer if kind is Kind.INTEGER else self.text


def schema_statements(types: ColumnTypes, prefix: str = "") -> list[str]:
    """The read model's tables and indexes; `prefix` qualifies the table names."""
    users, metadata = prefix + USERS_TABLE, prefix + METADATA_TABLE
    t = types
    columns = ", ".join(
        f"{f.column} {t.of(f.kind)}{'' if f.nullable else ' NOT NULL'}"
        for f in ROOT_FIELDS.values()
    )
    in_key_order = "" if t.rowid_key else ", key"
    nullable = {f.column for f in ROOT_FIELDS.values() if f.nullable}
    return [
        f"CREATE TABLE IF NOT EXISTS {users} (key {t.integer} PRIMARY KEY, "
        f"aggregate_id {t.uuid} NOT NULL UNIQUE, version {t.integer} NOT NULL, {columns}, "
        f"state {t.blob} NOT NULL)",
        # One row per distinct (path, value) of a user, deleted by its primary key (the
        # projector knows the entries it wrote), which is also the index searches use.
        f"CREATE TABLE IF NOT EXISTS {metadata} (path {t.text} NOT NULL, text {t.text} NOT NULL, "
        f"key {t.integer} NOT NULL, num {t.real}, PRIMARY KEY (path, text, key))"
        + (" WITHOUT ROWID" if t.rowid_key else ""),
        f"CREATE INDEX IF NOT EXISTS {METADATA_TABLE}_by_number "
        f"ON {metadata} (path, num, key) WHERE num IS NOT NULL",
        *(
            f"CREATE INDEX IF NOT EXISTS {USERS_TABLE}_by_{column} ON {users} "
            f"({column}{t.nulls_first if column in nullable else ''}{in_key_order})"
            for column in INDEXED_COLUMNS
        ),
        f"CREATE TABLE IF NOT EXISTS {prefix}{SKIPPED_TABLE} (notification_id {t.integer} "
        f"PRIMARY KEY, topic {t.text} NOT NULL, reason {t.text} NOT NULL)",
    ]


def row_values(row: UserRow, aggregate_id: Any) -> tuple[Any, ...]:
    return (row.key, aggregate_id, row.version, *row.columns, row.state)


def removed_entries(batch: Batch) -> list[tuple[Any, ...]]:
    """(path, text, key) of every metadata entry the batch deletes."""
    removed = [(path, text, user.key) for user in batch.deletions for path, text, _ in user.entries]
    removed += [(path, text, row.key) for row in batch.upserts for path, text, _ in row.removed]
    return removed


def added_entries(batch: Batch) -> list[tuple[Any, ...]]:
    """(path, text, key, num) of every metadata entry the batch inserts."""
    return [(path, text, row.key, num) for row in batch.upserts for path, text, num in row.added]
