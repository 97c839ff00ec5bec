"""Failed-login counts in tables of the event store's database, so every process serving
logins shares them (the `LoginFailures` port of the throttles).

Two ways of counting, each in a table of its own (so neither's sweep drops the other's rows):

- Streaks (`login_failures`), keyed by a SHA-256 digest of (connection, identifier, IP). A
  failure extends a live streak and starts a new one after a block ends or after
  `block_seconds` without a failure; the failure that reaches the limit blocks until
  `block_seconds` later.
- Buckets (`login_ip_failures`), keyed by a digest of the IP alone: at most `max_failures`
  failures per `block_seconds`, and once that is spent, one more each `block_seconds /
  max_failures` (Auth0's suspicious IP throttling: 100 a day, one more every 864 s).

The tables hold no email or address. Each rule runs inside one statement, so concurrent failures
from several processes all count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from metaledger.domain.storage import Dialect

LOGIN_FAILURES_TABLE = "login_failures"
IP_FAILURES_TABLE = "login_ip_failures"


@runtime_checkable
class SqlTables(Protocol):
    """A database that runs a component's statements on tables of its own."""

    dialect: Dialect

    def table(self, name: str) -> str: ...
    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Any]: ...
    def write(self, statement: str, params: Sequence[Any] = ()) -> None: ...


@dataclass(frozen=True)
class Failure:
    """A failed login at `now`, under a limit of `max_failures` per `block_seconds`."""

    key: bytes
    now: float
    max_failures: int
    block_seconds: int


class FailureStatements(ABC):
    """The statements on one table of failure counts; each row says until when its key is
    blocked, and a subclass says how a failure moves that."""

    table_name: ClassVar[str]
    columns: ClassVar[str]  # beside the key
    record: str
    sweep: str

    def __init__(self, dialect: Dialect, table: str) -> None:
        p = dialect.placeholder
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {table} "
            f"(key {dialect.blob_type} PRIMARY KEY, {self.columns})"
        ]
        self.blocked_until = (
            f"SELECT blocked_until FROM {table} WHERE key = {p} AND blocked_until > {p}"
        )
        self.clear = f"DELETE FROM {table} WHERE key = {p}"

    @abstractmethod
    def record_params(self, failure: Failure) -> tuple[object, ...]:
        """The parameters of `record`, in order."""

    @abstractmethod
    def sweep_params(self, now: float, block_seconds: int) -> tuple[object, ...]:
        """The parameters of `sweep`, which deletes the rows that no longer count."""


class StreakStatements(FailureStatements):
    table_name = LOGIN_FAILURES_TABLE
    columns = (
        "failures INTEGER NOT NULL, last_failure DOUBLE PRECISION NOT NULL, "
        "blocked_until DOUBLE PRECISION"
    )

    def __init__(self, dialect: Dialect, table: str) -> None:
        super().__init__(dialect, table)
        p = dialect.placeholder
        # A streak is live while its block lasts, or, unblocked, until block_seconds pass.
        live = f"(f.blocked_until > {p} OR (f.blocked_until IS NULL AND f.last_failure > {p}))"
        failures = f"CASE WHEN {live} THEN f.failures + 1 ELSE 1 END"
        self.record = (
            f"INSERT INTO {table} AS f (key, failures, last_failure, blocked_until) "
            f"VALUES ({p}, 1, {p}, {p}) ON CONFLICT (key) DO UPDATE SET "
            f"failures = {failures}, last_failure = {p}, "
            f"blocked_until = CASE WHEN {failures} >= {p} THEN {p} END"
        )
        self.sweep = (
            f"DELETE FROM {table} WHERE blocked_until <= {p} "
            f"OR (blocked_until IS NULL AND last_failure <= {p})"
        )

    def record_params(self, failure: Failure) -> tuple[object, ...]:
        block_end = failure.now + failure.block_seconds
        live = (failure.now, failure.now - failure.block_seconds)
        return (
            failure.key,
            failure.now,
            block_end if failure.max_failures <= 1 else None,
            *live,
            failure.now,
            *live,
            failure.max_failures,
            block_end,
        )

    def sweep_params(self, now: float, block_seconds: int) -> tuple[object, ...]:
        return (now, now - block_seconds)


class BucketStatements(FailureStatements):
    """A leaky bucket kept as one time (GCRA): each failure adds `block_seconds /
    max_failures` seconds of debt, which drains as time passes; `drained_at` is when it is
    paid off. A key is blocked while its debt exceeds what `max_failures - 1` failures add."""

    table_name = IP_FAILURES_TABLE
    columns = "drained_at DOUBLE PRECISION NOT NULL, blocked_until DOUBLE PRECISION NOT NULL"

    def __init__(self, dialect: Dialect, table: str) -> None:
        super().__init__(dialect, table)
        p = dialect.placeholder
        # The debt still owed ends at drained_at; a bucket that drained owes nothing from now.
        debt_from = f"CASE WHEN f.drained_at > {p} THEN f.drained_at ELSE {p} END"
        self.record = (
            f"INSERT INTO {table} AS f (key, drained_at, blocked_until) "
            f"VALUES ({p}, {p}, {p}) ON CONFLICT (key) DO UPDATE SET "
            f"drained_at = {debt_from} + {p}, blocked_until = {debt_from} + {p}"
        )
        self.sweep = f"DELETE FROM {table} WHERE drained_at <= {p}"

    def record_params(self, failure: Failure) -> tuple[object, ...]:
        now = failure.now
        share = failure.block_seconds / failure.max_failures
        tolerated = failure.block_seconds - share  # the debt of max_failures - 1 failures
        return (
            failure.key,
            now + share,
            now + share - tolerated,
            *(now, now, share),
            *(now, now, share - tolerated),
        )

    def sweep_params(self, now: float, block_seconds: int) -> tuple[object, ...]:
        return (now,)


class StoredLoginFailures:
    """The counts in the table of `statements` (streaks unless told), created if need be."""

    def __init__(
        self, tables: SqlTables, statements: type[FailureStatements] = StreakStatements
    ) -> None:
        self._tables = tables
        self._statements = statements(tables.dialect, tables.table(statements.table_name))
        for statement in self._statements.create:
            tables.write(statement)

    def record_login_failure(self, failure: Failure) -> None:
        self._tables.write(self._statements.record, self._statements.record_params(failure))

    def login_blocked_until(self, key: bytes, now: float) -> float | None:
        """When the block on `key` ends, if one is in force at `now`."""
        rows = self._tables.rows(self._statements.blocked_until, (key, now))
        return float(rows[0]["blocked_until"]) if rows else None

    def clear_login_failures(self, key: bytes) -> None:
        self._tables.write(self._statements.clear, (key,))

    def sweep_login_failures(self, now: float, block_seconds: int) -> None:
        """Deletes the counts that are over: ended blocks, and failures too old to count."""
        statements = self._statements
        self._tables.write(statements.sweep, statements.sweep_params(now, block_seconds))
