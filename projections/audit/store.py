"""The audit read model's interface, and what both backends share: requests, batches and SQL.

Tables (each name prefixed `audit_`):
- `changes`: one row per key an event changed, keyed by (position, seq);
- `change_values`: the values a `to=`/`from=` filter finds a change by (see ChangeRow.terms);
- `log_records`: Auth0's log records, from events (`position` set) or written directly by the
  API (`position` NULL: failed logins, failed API calls, token exchanges);
- `users`: the user id, name and connection that log records of later events carry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import orjson

from metaledger.domain.storage import Dialect
from metaledger.projections.audit.logquery import LogQueryTranslator, Predicate
from metaledger.projections.audit.records import LOG_FIELDS, AuditUser, ChangeRow, LogRecord

CHANGES_TABLE = "audit_changes"
VALUES_TABLE = "audit_change_values"
LOGS_TABLE = "audit_log_records"
USERS_TABLE = "audit_users"
TABLES = (CHANGES_TABLE, VALUES_TABLE, LOGS_TABLE, USERS_TABLE)
# Queries run at most this long, then fail with QueryTimeout (503).
STATEMENT_TIMEOUT_SECONDS = 5.0

LOG_COLUMNS = (
    *LOG_FIELDS,
    "details",
    "position",
    "aggregate_id",
    "version",
)
CHANGE_COLUMNS = (
    "position",
    "seq",
    "aggregate_id",
    "user_id",
    "key",
    "old",
    "new",
    "event",
    "version",
    "at",
    "actor_kind",
    "actor_id",
    "client_id",
    "request_id",
    "ip",
)
VALUE_COLUMNS = ("key", "side", "text", "at", "position", "seq")
USER_COLUMNS = ("aggregate_id", "user_id", "user_name", "connection")
# Log fields a page may be sorted by (Auth0's `sort=date:-1`).
SORTABLE = frozenset({"date", "type", "user_id", "client_id", "ip", "connection", "log_id"})


@dataclass(frozen=True)
class Cursor:
    """A checkpoint in the changes' order (newest first): (time, position, seq)."""

    at: int
    position: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> Cursor:
        at, position, seq = (int(part) for part in text.split("."))
        return cls(at, position, seq)


@dataclass(frozen=True)
class ChangeQuery:
    key: str | None = None  # a key path, or a prefix of one (`app_metadata`)
    to: str | None = None
    from_: str | None = None
    actor_kind: str | None = None
    actor_id: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    since: int | None = None  # microseconds, inclusive
    until: int | None = None  # exclusive
    after: Cursor | None = None
    take: int = 50


@dataclass(frozen=True)
class ChangePage:
    changes: list[ChangeRow]
    next: str | None  # the cursor of the following page; None at the oldest


@dataclass(frozen=True)
class LogQuery:
    where: Predicate
    sort: tuple[str, bool] = ("log_id", True)  # (column, descending)
    offset: int = 0
    limit: int = 50
    count_total: bool = False
    after: str | None = None  # checkpoint: only records with a greater log id, oldest first


@dataclass(frozen=True)
class LogPage:
    records: list[LogRecord]
    total: int | None


@dataclass
class AuditBatch:
    """What one transaction writes: the position reached and the rows of the events up to it."""

    position: int
    records: list[LogRecord] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)
    users: dict[UUID, AuditUser] = field(default_factory=dict)
    # Users erased by this batch: their change rows go; their records were re-rendered.
    erased: list[UUID] = field(default_factory=list)
    skipped: int = 0


class AuditWriter(Protocol):
    """Where a rebuild writes: the new tables, in the rebuild's transaction."""

    def write(self, batch: AuditBatch) -> None: ...

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]: ...


class AuditStore(Protocol):
    application_name: str
    dialect: Dialect
    translator: LogQueryTranslator

    def position(self) -> int | None: ...

    def users(self, aggregate_ids: Collection[UUID]) -> dict[UUID, AuditUser]: ...

    def event_positions(self, aggregate_id: UUID) -> dict[int, int]:
        """version → position of the user's records that came from events."""

    def apply(self, batch: AuditBatch) -> None:
        """Writes the batch and its position in one transaction; a position that is not past
        the recorded one raises and writes nothing. After a batch that erased someone, the
        freed space is cleared from the files (WAL truncated, tables vacuumed)."""

    def record(self, records: Sequence[LogRecord]) -> None:
        """Records written directly by the API (no event behind them)."""

    def prune(self, before: datetime) -> int:
        """Deletes the records written directly before `before`; returns how many."""

    def changes(self, query: ChangeQuery) -> ChangePage: ...

    def logs(self, query: LogQuery) -> LogPage: ...

    def log(self, log_id: str) -> LogRecord | None: ...

    def replacing(self, position: int) -> AbstractContextManager[AuditWriter]:
        """New tables for what comes from events, written through the writer; when the block
        ends they replace the current ones with `position`, in one transaction. Records
        written directly by the API are kept."""

    def close(self) -> None: ...


def schema_statements(t: Dialect, prefix: str = "") -> list[str]:
    """The tables and indexes; `prefix` qualifies the table names."""
    text, integer = t.text_type, t.integer_type
    changes, values = prefix + CHANGES_TABLE, prefix + VALUES_TABLE
    logs, users = prefix + LOGS_TABLE, prefix + USERS_TABLE
    return [
        f"CREATE TABLE IF NOT EXISTS {changes} (position {integer} NOT NULL, "
        f"seq {integer} NOT NULL, aggregate_id {t.uuid_type} NOT NULL, user_id {text} NOT NULL, "
        f"key {text} NOT NULL, old {text}, new {text}, event {text} NOT NULL, "
        f"version {integer} NOT NULL, at {integer} NOT NULL, actor_kind {text}, "
        f"actor_id {text}, client_id {text}, request_id {text}, ip {text}, "
        "PRIMARY KEY (position, seq))",
        f"CREATE TABLE IF NOT EXISTS {values} (key {text} NOT NULL, side {text} NOT NULL, "
        f"text {text} NOT NULL, at {integer} NOT NULL, position {integer} NOT NULL, "
        f"seq {integer} NOT NULL, PRIMARY KEY (key, side, text, at, position, seq))"
        + (" WITHOUT ROWID" if t.rowid_key else ""),
        f"CREATE TABLE IF NOT EXISTS {logs} (log_id {text} PRIMARY KEY, date {text} NOT NULL, "
        f"type {text} NOT NULL, description {text}, user_id {text}, user_name {text}, "
        f"client_id {text}, client_name {text}, ip {text}, user_agent {text}, "
        f"connection {text}, details {text} NOT NULL, position {integer}, "
        f"aggregate_id {t.uuid_type}, version {integer})",
        f"CREATE TABLE IF NOT EXISTS {users} (aggregate_id {t.uuid_type} PRIMARY KEY, "
        f"user_id {text} NOT NULL, user_name {text}, connection {text})",
        *(
            f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_by_{name} ON {changes} "
            f"({columns}, at, position, seq)"
            for name, columns in (
                ("key", "key"),
                ("actor", "actor_id"),
                ("client", "client_id"),
                ("user", "user_id"),
                ("aggregate", "aggregate_id"),
            )
        ),
        f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_by_time ON {changes} (at, position, seq)",
        *(
            f"CREATE INDEX IF NOT EXISTS {LOGS_TABLE}_by_{column} ON {logs} ({column}, log_id)"
            for column in ("type", "date", "ip", "user_id", "client_id", "aggregate_id")
        ),
        # Records written directly, by time: what retention prunes.
        f"CREATE INDEX IF NOT EXISTS {LOGS_TABLE}_direct ON {logs} (log_id) WHERE position IS NULL",
    ]


def is_index(statement: str) -> bool:
    return statement.startswith("CREATE INDEX")


@dataclass(frozen=True)
class Statements:
    """The SQL both backends run, in the backend's dialect, on tables named with `prefix`."""

    dialect: Dialect
    prefix: str = ""

    def table(self, name: str) -> str:
        return self.prefix + name

    def insert(self, table: str, columns: Sequence[str], conflict: str = "") -> str:
        markers = ", ".join(self.dialect.placeholder for _ in columns)
        return (
            f"INSERT INTO {self.table(table)} ({', '.join(columns)}) VALUES ({markers}){conflict}"
        )

    @property
    def upsert_record(self) -> str:
        updated = ", ".join(f"{c} = excluded.{c}" for c in LOG_COLUMNS[1:])
        return self.insert(
            LOGS_TABLE, LOG_COLUMNS, f" ON CONFLICT (log_id) DO UPDATE SET {updated}"
        )

    @property
    def select_log(self) -> str:
        return (
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {self.table(LOGS_TABLE)} "
            f"WHERE log_id = {self.dialect.placeholder}"
        )

    def prune(self) -> str:
        """Deletes the records written directly whose ids are below a parameter's."""
        return (
            f"DELETE FROM {self.table(LOGS_TABLE)} WHERE position IS NULL "
            f"AND log_id < {self.dialect.placeholder}"
        )

    @property
    def upsert_user(self) -> str:
        return self.insert(USERS_TABLE, USER_COLUMNS, self.user_updated)

    @property
    def user_updated(self) -> str:
        """What inserting a user the read model knows already does instead."""
        updated = ", ".join(f"{c} = excluded.{c}" for c in USER_COLUMNS[1:])
        return f" ON CONFLICT (aggregate_id) DO UPDATE SET {updated}"

    @property
    def insert_change(self) -> str:
        return self.insert(CHANGES_TABLE, CHANGE_COLUMNS)

    @property
    def insert_value(self) -> str:
        return self.insert(VALUES_TABLE, VALUE_COLUMNS)

    @property
    def erase(self) -> list[str]:
        """Statements removing what the read model held of an erased user's changes, each on
        one parameter: the user's aggregate id."""
        m = self.dialect.placeholder
        changes, values = self.table(CHANGES_TABLE), self.table(VALUES_TABLE)
        logs, users = self.table(LOGS_TABLE), self.table(USERS_TABLE)
        # Records written directly name the user by id, or by the email typed at a login.
        direct = f"UPDATE {logs} SET user_name = NULL WHERE position IS NULL AND "
        return [
            f"DELETE FROM {values} WHERE (position, seq) IN "
            f"(SELECT position, seq FROM {changes} WHERE aggregate_id = {m})",
            f"DELETE FROM {changes} WHERE aggregate_id = {m}",
            f"{direct}user_id = (SELECT user_id FROM {users} WHERE aggregate_id = {m})",
            f"{direct}lower(user_name) = (SELECT user_name FROM {users} WHERE aggregate_id = {m})",
            f"UPDATE {users} SET user_name = NULL WHERE aggregate_id = {m}",
        ]

    def changes_page(self, query: ChangeQuery) -> tuple[str, tuple[Any, ...]]:
        """A page of changes, newest first: from the values' index when `to`/`from` is
        given, else from the changes' own indexes."""
        m = self.dialect.placeholder
        where: list[str] = []
        params: list[Any] = []
        values = self.table(VALUES_TABLE)
        by_value = query.to if query.to is not None else query.from_
        source = f"{self.table(CHANGES_TABLE)} c"
        order = "c"
        if by_value is not None:
            source = (
                f"{values} v JOIN {self.table(CHANGES_TABLE)} c "
                "ON c.position = v.position AND c.seq = v.seq"
            )
            order = "v"
            where.append(f"v.side = {m} AND v.text = {m}")
            params += ["to" if query.to is not None else "from", by_value]
            if query.key is not None:
                key_sql, key_params = _key_condition("v", query.key, m)
                where.append(key_sql)
                params += key_params
            if query.to is not None and query.from_ is not None:
                where.append(
                    f"EXISTS (SELECT 1 FROM {values} w WHERE w.position = c.position "
                    f"AND w.seq = c.seq AND w.key = c.key AND w.side = 'from' AND w.text = {m})"
                )
                params.append(query.from_)
        elif query.key is not None:
            key_sql, key_params = _key_condition("c", query.key, m)
            where.append(key_sql)
            params += key_params
        for column, value in (
            ("actor_kind", query.actor_kind),
            ("actor_id", query.actor_id),
            ("client_id", query.client_id),
            ("user_id", query.user_id),
        ):
            if value is not None:
                where.append(f"c.{column} = {m}")
                params.append(value)
        if query.since is not None:
            where.append(f"{order}.at >= {m}")
            params.append(query.since)
        if query.until is not None:
            where.append(f"{order}.at < {m}")
            params.append(query.until)
        if query.after is not None:
            where.append(f"({order}.at, {order}.position, {order}.seq) < ({m}, {m}, {m})")
            params += [query.after.at, query.after.position, query.after.seq]
        columns = ", ".join(f"c.{c}" for c in CHANGE_COLUMNS)
        condition = " AND ".join(where) or "1 = 1"
        return (
            f"SELECT {columns} FROM {source} WHERE {condition} "
            f"ORDER BY {order}.at DESC, {order}.position DESC, {order}.seq DESC LIMIT {m}",
            (*params, query.take + 1),
        )

    def logs_page(self, query: LogQuery) -> tuple[str, tuple[Any, ...]]:
        m = self.dialect.placeholder
        where, params = query.where.sql, list(query.where.params)
        if query.after is not None:
            where = f"({where}) AND log_id > {m}"
            params.append(query.after)
            order = "log_id ASC"
        else:
            column, descending = query.sort
            direction = "DESC" if descending else "ASC"
            order = f"{column} {direction}" + (
                f", log_id {direction}" if column != "log_id" else ""
            )
        return (
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {self.table(LOGS_TABLE)} WHERE {where} "
            f"ORDER BY {order} LIMIT {m} OFFSET {m}",
            (*params, query.limit, query.offset),
        )

    def logs_count(self, query: LogQuery) -> tuple[str, tuple[Any, ...]]:
        return (
            f"SELECT count(*) FROM {self.table(LOGS_TABLE)} WHERE {query.where.sql}",
            query.where.params,
        )


class AuditReads:
    """The queries, on top of a backend's `_read` and its aggregate-id conversion."""

    statements: Statements

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _id_of(self, raw: Any) -> UUID:
        raise NotImplementedError

    def changes(self, query: ChangeQuery) -> ChangePage:
        sql, params = self.statements.changes_page(query)
        rows = self._read(sql, params)
        changes = [change_of(row, self._id_of) for row in rows[: query.take]]
        more = len(rows) > query.take
        return ChangePage(changes, changes[-1].cursor() if more and changes else None)

    def logs(self, query: LogQuery) -> LogPage:
        sql, params = self.statements.logs_page(query)
        records = [record_of(row, self._id_of) for row in self._read(sql, params)]
        total = None
        if query.count_total:
            count_sql, count_params = self.statements.logs_count(query)
            total = int(self._read(count_sql, count_params)[0][0])
        return LogPage(records, total)

    def log(self, log_id: str) -> LogRecord | None:
        rows = self._read(self.statements.select_log, (log_id,))
        return record_of(rows[0], self._id_of) if rows else None


def _key_condition(alias: str, key: str, m: str) -> tuple[str, list[Any]]:
    """A key exactly, or every key below it (`app_metadata` covers `app_metadata.plan`): a
    range of the key index, as "/" follows "." in code-point order. Changes are per top-level
    key, so a key with a dot has nothing below it: one value of the index, read in order."""
    if "." in key:
        return f"{alias}.key = {m}", [key]
    return (
        f"({alias}.key = {m} OR ({alias}.key > {m} AND {alias}.key < {m}))",
        [key, key + ".", key + "/"],
    )


def record_row(record: LogRecord, aggregate_id: Callable[[UUID], Any]) -> tuple[Any, ...]:
    return (
        record.log_id,
        record.date,
        record.type,
        record.description,
        record.user_id,
        record.user_name,
        record.client_id,
        record.client_name,
        record.ip,
        record.user_agent,
        record.connection,
        record.details_json(),
        record.position,
        aggregate_id(record.aggregate_id) if record.aggregate_id is not None else None,
        record.version,
    )


def record_of(row: Sequence[Any], aggregate_id: Callable[[Any], UUID]) -> LogRecord:
    values = dict(zip(LOG_COLUMNS, row, strict=True))
    values["details"] = orjson.loads(values["details"])
    raw = values["aggregate_id"]
    values["aggregate_id"] = aggregate_id(raw) if raw is not None else None
    return LogRecord(**values)


def change_row(change: ChangeRow, aggregate_id: Callable[[UUID], Any]) -> tuple[Any, ...]:
    return (
        change.position,
        change.seq,
        aggregate_id(change.aggregate_id),
        change.user_id,
        change.key,
        _json(change.old),
        _json(change.new),
        change.event,
        change.version,
        change.at,
        change.actor_kind,
        change.actor_id,
        change.client_id,
        change.request_id,
        change.ip,
    )


def change_of(row: Sequence[Any], aggregate_id: Callable[[Any], UUID]) -> ChangeRow:
    values = dict(zip(CHANGE_COLUMNS, row, strict=True))
    values["aggregate_id"] = aggregate_id(values["aggregate_id"])
    values["old"] = _loaded(values["old"])
    values["new"] = _loaded(values["new"])
    return ChangeRow(**values)


def value_rows(changes: Sequence[ChangeRow]) -> list[tuple[Any, ...]]:
    return [
        (change.key, side, text, change.at, change.position, change.seq)
        for change in changes
        for side, text in change.terms()
    ]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loaded(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)
