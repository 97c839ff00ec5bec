"""Failed-login streaks in a table of the event store's database, so every process serving
logins shares them (the `LoginFailures` port of the throttle).

A streak is keyed by a SHA-256 digest of (connection, identifier, IP): the table holds no email
or address. A failure extends a live streak and starts a new one after a block ends or after
`block_seconds` without a failure; the failure that reaches the limit blocks until
`block_seconds` later. Each rule runs inside one statement, so concurrent failures from several
processes all count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from metaledger.domain.storage import Dialect

LOGIN_FAILURES_TABLE = "login_failures"


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

    def params(self) -> tuple[object, ...]:
        """The parameters of LoginFailureStatements.record, in order."""
        block_end = self.now + self.block_seconds
        live = (self.now, self.now - self.block_seconds)
        return (
            self.key,
            self.now,
            block_end if self.max_failures <= 1 else None,
            *live,
            self.now,
            *live,
            self.max_failures,
            block_end,
        )


class LoginFailureStatements:
    def __init__(self, dialect: Dialect, table: str) -> None:
        p = dialect.placeholder
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {table} (key {dialect.blob_type} PRIMARY KEY, "
            "failures INTEGER NOT NULL, last_failure DOUBLE PRECISION NOT NULL, "
            "blocked_until DOUBLE PRECISION)"
        ]
        # A streak is live while its block lasts, or, unblocked, until block_seconds pass.
        live = f"(f.blocked_until > {p} OR (f.blocked_until IS NULL AND f.last_failure > {p}))"
        failures = f"CASE WHEN {live} THEN f.failures + 1 ELSE 1 END"
        self.record = (
            f"INSERT INTO {table} AS f (key, failures, last_failure, blocked_until) "
            f"VALUES ({p}, 1, {p}, {p}) ON CONFLICT (key) DO UPDATE SET "
            f"failures = {failures}, last_failure = {p}, "
            f"blocked_until = CASE WHEN {failures} >= {p} THEN {p} END"
        )
        self.blocked_until = (
            f"SELECT blocked_until FROM {table} WHERE key = {p} AND blocked_until > {p}"
        )
        self.clear = f"DELETE FROM {table} WHERE key = {p}"
        self.sweep = (
            f"DELETE FROM {table} WHERE blocked_until <= {p} "
            f"OR (blocked_until IS NULL AND last_failure <= {p})"
        )


class StoredLoginFailures:
    """The streaks in the `login_failures` table, created if need be."""

    def __init__(self, tables: SqlTables) -> None:
        self._tables = tables
        self._statements = LoginFailureStatements(
            tables.dialect, tables.table(LOGIN_FAILURES_TABLE)
        )
        for statement in self._statements.create:
            tables.write(statement)

    def record_login_failure(self, failure: Failure) -> None:
        self._tables.write(self._statements.record, failure.params())

    def login_blocked_until(self, key: bytes, now: float) -> float | None:
        """When the block on `key` ends, if one is in force at `now`."""
        rows = self._tables.rows(self._statements.blocked_until, (key, now))
        return float(rows[0]["blocked_until"]) if rows else None

    def clear_login_failures(self, key: bytes) -> None:
        self._tables.write(self._statements.clear, (key,))

    def sweep_login_failures(self, now: float, block_seconds: int) -> None:
        """Deletes the streaks that are over: ended blocks, and failures too old to count."""
        self._tables.write(self._statements.sweep, (now, now - block_seconds))
