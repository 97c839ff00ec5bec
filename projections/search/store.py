"""The read model's interface, and what both backends share: requests, batches and SQL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from uuid import UUID

from metaledger.domain.storage import Dialect
from metaledger.domain.user import User
from metaledger.projections.search.conditions import (
    And,
    Everyone,
    Node,
    Not,
    Or,
    Row,
    Sql,
    Tables,
    all_of,
    key_set,
    predicate,
)
from metaledger.projections.search.documents import (
    RemovedUser,
    UserRow,
    decode_state,
    document_of_state,
)
from metaledger.projections.search.fields import COLUMNS, ROOT_FIELDS, Kind
from metaledger.projections.search.query import QueryTranslator

log = logging.getLogger("metaledger.search")

USERS_TABLE = "search_users"
METADATA_TABLE = "search_metadata"
SKIPPED_TABLE = "search_skipped"
COUNTS_TABLE = "search_counts"
# PostgreSQL's alone: bitmaps of frequent metadata values, and how many users hold each value.
BITMAPS_TABLE = "search_bitmaps"
VALUES_TABLE = "search_values"
# Searches run at most this long, as on Auth0, then fail with 503.
STATEMENT_TIMEOUT_SECONDS = 2.0
# Waiting for a position, the read model's position is read again after this many seconds,
# doubling up to the second bound.
FIRST_POLL_DELAY = 0.002
MAX_POLL_DELAY = 0.05

COLUMN_POSITIONS = {column: position for position, column in enumerate(COLUMNS)}
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
    condition: Node
    sort: Sort | None = None
    offset: int = 0
    limit: int = 50
    count_total: bool = False
    after_key: int | None = None  # checkpoint paging: only users after this key, in key order


@dataclass(frozen=True)
class StoredUser:
    key: int
    version: int
    state: bytes

    def restore(self, aggregate_id: UUID) -> User:
        return decode_state(self.state, aggregate_id, self.version)


@dataclass(frozen=True)
class Found:
    """A user a search found, as the read model keeps it: restored only when asked, since a
    page of Auth0 documents is made from the kept state directly (a third of the cost)."""

    aggregate_id: UUID
    stored: StoredUser

    @property
    def key(self) -> int:
        return self.stored.key

    def user(self) -> User:
        return self.stored.restore(self.aggregate_id)

    def document(self) -> dict[str, Any]:
        """What `user().as_auth0()` returns."""
        return document_of_state(self.stored.state)


@dataclass(frozen=True)
class SearchResult:
    users: list[Found]
    total: int | None


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
    # An erased user's events are among the batch's: what the read model held of them (rows
    # gone now or long ago) must be cleared from its files once the batch is written.
    erased: bool = False


class SearchStore(Protocol):
    application_name: str
    translator: QueryTranslator
    statement_timeout: float  # seconds a search may run before it fails with QueryTimeout
    ddl: list[str]  # the read model's tables and indexes

    def search(self, request: SearchRequest) -> SearchResult: ...

    def position(self) -> int | None:
        """The position of the last event the read model has applied."""

    def load(self, aggregate_ids: Collection[UUID]) -> dict[UUID, StoredUser]: ...

    def states_after(
        self, after_key: int, up_to_key: int, limit: int, connection: str | None
    ) -> list[tuple[int, bytes]]:
        """(key, state) of the first `limit` users (of `connection`, if named) whose key is
        past `after_key` and at most `up_to_key`, in key order: an export's page."""

    def apply(self, batch: Batch) -> None:
        """Writes the batch and its position in one transaction; a position that is not past
        the recorded one raises (the batch was already applied) and writes nothing. After a
        batch that `erased` someone, what the deleted rows occupied is cleared from the files
        (the SQLite WAL truncated, PostgreSQL's tables vacuumed)."""

    def skipped_events(self) -> list[SkippedEvent]: ...

    def replacing(self, position: int) -> AbstractContextManager[Callable[[Batch], None]]:
        """A new, empty read model written through the callable (batches of new users, each
        written once with all of its entries; their positions unused); when the block ends,
        its indexes are built and `position` recorded, and it replaces the current one, all in
        one transaction."""

    def close(self) -> None: ...


def wait_for(store: SearchStore, position: int, timeout: float) -> bool:
    """Blocks until the read model reached `position`; False when `timeout` ran out first."""
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_DELAY
    while True:
        if (store.position() or 0) >= position:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_POLL_DELAY)


class TooManyWaiters(Exception):
    """A PositionWatch already has as many waiters as it takes."""


class PositionWatch:
    """Waits for the read model to reach positions without holding a thread per waiter.

    While anyone waits, one poll loop reads the position (in a worker thread, one read at a
    time, however many wait) and wakes every waiter whose position it reached; it polls sooner
    when a waiter arrives, then backs off. At most `capacity` wait at once. Its futures, task
    and event belong to the event loop that awaits it: one watch per loop (per process).
    """

    def __init__(self, read_position: Callable[[], int | None], capacity: int) -> None:
        self._read_position = read_position
        self.capacity = capacity
        self._waiters: dict[asyncio.Future[None], int] = {}
        self._poller: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()  # a waiter arrived: poll now

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Whether the read model reached `position` within `timeout` seconds; raises
        TooManyWaiters, at once, when `capacity` calls are waiting already."""
        if len(self._waiters) >= self.capacity:
            raise TooManyWaiters()
        reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[reached] = position
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        else:
            self._arrived.set()
        try:
            async with asyncio.timeout(timeout):
                await reached
            return True
        except TimeoutError:
            return False
        finally:
            del self._waiters[reached]

    async def _poll(self) -> None:
        delay = FIRST_POLL_DELAY
        while self._waiters:
            self._arrived.clear()
            try:
                # The default executor, not the pool that runs the routes' blocking work: a
                # saturated pool cannot hold back the one read that wakes every waiter.
                position = await asyncio.to_thread(self._read_position) or 0
            except Exception:  # the store is unreachable: waiters time out unless it returns
                log.exception("reading the read model's position failed")
                position = 0
            for waiter, awaited in self._waiters.items():
                if awaited <= position and not waiter.done():
                    waiter.set_result(None)
            try:
                async with asyncio.timeout(delay):
                    await self._arrived.wait()
                delay = FIRST_POLL_DELAY
            except TimeoutError:
                delay = min(delay * 2, MAX_POLL_DELAY)


def chunks(items: Collection[Any], size: int) -> Iterator[list[Any]]:
    listed = list(items)
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


@dataclass(frozen=True)
class Statements:
    """The SQL both backends run, in the backend's dialect."""

    dialect: Dialect
    tables: Tables
    columns: tuple[str, ...] = ("key", "aggregate_id", "version", *COLUMNS, "state")

    @cached_property
    def insert_user(self) -> str:
        m = self.dialect.placeholder
        return (
            f"INSERT INTO {self.tables.users} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join(m for _ in self.columns)})"
        )

    def update_user(self, changed: tuple[str, ...]) -> str:
        m = self.dialect.placeholder
        assignments = ", ".join(f"{column} = {m}" for column in ("version", "state", *changed))
        return f"UPDATE {self.tables.users} SET {assignments} WHERE key = {m}"

    @cached_property
    def delete_metadata(self) -> str:
        m = self.dialect.placeholder
        return f"DELETE FROM {self.tables.metadata} WHERE path = {m} AND text = {m} AND key = {m}"

    @cached_property
    def insert_metadata(self) -> str:
        m = self.dialect.placeholder
        return (
            f"INSERT INTO {self.tables.metadata} (path, text, key, num) VALUES ({m}, {m}, {m}, {m})"
        )

    def select_users(self, condition: str) -> str:
        return (
            f"SELECT key, aggregate_id, version, state FROM {self.tables.users} WHERE {condition}"
        )

    def states_after(
        self, after_key: int, up_to_key: int, limit: int, connection: str | None
    ) -> Sql:
        """An export's page: see `SearchStore.states_after`."""
        m = self.dialect.placeholder
        of_connection = f" AND connection = {m}" if connection is not None else ""
        return Sql(
            f"SELECT key, state FROM {self.tables.users} WHERE key > {m} AND key <= {m}"
            f"{of_connection} ORDER BY key LIMIT {m}",
            (after_key, up_to_key, *([connection] if connection is not None else []), limit),
        )

    def page(self, request: SearchRequest, correlated: bool = False) -> Sql:
        """A page of users. In key order, from the key set (the first keys, then their rows);
        sorted, from a predicate on each row, tested while walking the sort column's index
        (`correlated`: metadata with EXISTS, entry by entry) or planned as joins."""
        m = self.dialect.placeholder
        tables = self.tables
        fields = "u.key, u.aggregate_id, u.version, u.state"
        window = (request.limit, request.offset)
        condition = request.condition
        if request.after_key is not None:
            condition = all_of([condition, Row(Sql(f"u.key > {m}", (request.after_key,)))])
        if request.sort is None:
            keys = key_set(condition, tables, joins=not self.dialect.merges_key_sets)
            return Sql(
                f"SELECT {fields} FROM ({keys.text} ORDER BY 1 LIMIT {m} OFFSET {m}) AS k "
                f"JOIN {tables.users} u ON u.key = k.key ORDER BY u.key",
                (*keys.params, *window),
            )
        where = predicate(condition, tables, correlated)
        return Sql(
            f"SELECT {fields} FROM {tables.users} u WHERE {where.text} "
            f"ORDER BY {request.sort.order_by()} LIMIT {m} OFFSET {m}",
            (*where.params, *window),
        )

    def count(self, condition: Node, at_most: int | None = None) -> Sql:
        """How many users meet the condition (or whether at least `at_most` do), counted on
        their key set: metadata alone never touches the users table."""
        tables = self.tables
        if isinstance(condition, Everyone) and at_most is None:
            return Sql(f"SELECT users FROM {tables.counts}")
        merges = self.dialect.merges_key_sets
        keys = key_set(condition, tables, joins=not merges)
        if merges and isinstance(condition, And | Or | Not):
            # Ordered, SQLite merges the members' streams instead of collecting each in a tree.
            keys = Sql(f"{keys.text} ORDER BY 1", keys.params)
        if at_most is None:
            return Sql(f"SELECT count(*) FROM ({keys.text}) AS k", keys.params)
        m = self.dialect.placeholder
        return Sql(f"SELECT count(*) FROM ({keys.text} LIMIT {m}) AS k", (*keys.params, at_most))

    @cached_property
    def count_users(self) -> str:
        return f"UPDATE {self.tables.counts} SET users = users + {self.dialect.placeholder}"


def column_type(dialect: Dialect, kind: Kind) -> str:
    if kind is Kind.BOOLEAN:
        return dialect.boolean_type
    return dialect.integer_type if kind is Kind.INTEGER else dialect.text_type


def schema_statements(dialect: Dialect, prefix: str = "") -> list[str]:
    """The read model's tables and indexes; `prefix` qualifies the table names."""
    users, metadata = prefix + USERS_TABLE, prefix + METADATA_TABLE
    t = dialect
    columns = ", ".join(
        f"{f.column} {column_type(t, f.kind)}{'' if f.nullable else ' NOT NULL'}"
        for f in ROOT_FIELDS.values()
    )
    in_key_order = "" if t.rowid_key else ", key"
    nullable = {f.column for f in ROOT_FIELDS.values() if f.nullable}
    return [
        f"CREATE TABLE IF NOT EXISTS {users} (key {t.integer_type} PRIMARY KEY, "
        f"aggregate_id {t.uuid_type} NOT NULL UNIQUE, version {t.integer_type} NOT NULL, "
        f"{columns}, "
        f"state {t.blob_type} NOT NULL)",
        # One row per distinct (path, value) of a user, deleted by its primary key (the
        # projector knows the entries it wrote), which is also the index searches use.
        f"CREATE TABLE IF NOT EXISTS {metadata} (path {t.text_type} NOT NULL, "
        f"text {t.text_type} NOT NULL, "
        f"key {t.integer_type} NOT NULL, num {t.real_type}, PRIMARY KEY (path, text, key))"
        + (" WITHOUT ROWID" if t.rowid_key else ""),
        f"CREATE INDEX IF NOT EXISTS {METADATA_TABLE}_by_number "
        f"ON {metadata} (path, num, key) WHERE num IS NOT NULL",
        *(
            f"CREATE INDEX IF NOT EXISTS {USERS_TABLE}_by_{column} ON {users} "
            f"({column}{t.nulls_first if column in nullable else ''}{in_key_order})"
            for column in INDEXED_COLUMNS
        ),
        f"CREATE TABLE IF NOT EXISTS {prefix}{SKIPPED_TABLE} (notification_id {t.integer_type} "
        f"PRIMARY KEY, topic {t.text_type} NOT NULL, reason {t.text_type} NOT NULL)",
        # The number of users, kept by every write: the total of a search for everyone.
        f"CREATE TABLE IF NOT EXISTS {prefix}{COUNTS_TABLE} (users {t.integer_type} NOT NULL)",
        f"INSERT INTO {prefix}{COUNTS_TABLE} (users) SELECT 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM {prefix}{COUNTS_TABLE})",
    ]


def removed_entries(batch: Batch) -> list[tuple[Any, ...]]:
    """(path, text, key) of every metadata entry the batch deletes."""
    removed = [(path, text, user.key) for user in batch.deletions for path, text, _ in user.entries]
    removed += [(path, text, row.key) for row in batch.upserts for path, text, _ in row.removed]
    return removed


def inserted_users(batch: Batch, aggregate_id: Callable[[UUID], Any]) -> list[tuple[Any, ...]]:
    """The values of the users new to the read model, in the order of Statements.columns."""
    return [
        (row.key, aggregate_id(row.aggregate_id), row.version, *row.columns, row.state)
        for row in batch.upserts
        if row.changed is None
    ]


def updated_users(batch: Batch) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """The users already in the read model, grouped by the columns that changed, as the
    parameters of Statements.update_user."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in batch.upserts:
        if row.changed is not None:
            values = (row.columns[COLUMN_POSITIONS[column]] for column in row.changed)
            groups.setdefault(row.changed, []).append((row.version, row.state, *values, row.key))
    return groups


def users_added(batch: Batch) -> int:
    """How the batch changes the number of users."""
    return sum(row.changed is None for row in batch.upserts) - len(batch.deletions)


def added_entries(batch: Batch) -> list[tuple[Any, ...]]:
    """(path, text, key, num) of every metadata entry the batch inserts."""
    return [(path, text, row.key, num) for row in batch.upserts for path, text, num in row.added]
