"""Failed-login streaks, kept beside the events so every process serving logins shares them.

A streak is keyed by a SHA-256 digest of (connection, identifier, IP): the table holds no email
or address. A failure extends a live streak and starts a new one after a block ends or after
`block_seconds` without a failure; the failure that reaches the limit blocks until
`block_seconds` later. Each rule runs inside one statement, so concurrent failures from several
processes all count.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.storage.dialect import Dialect

LOGIN_FAILURES_TABLE = "login_failures"


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
    def __init__(self, dialect: Dialect, table: str, schema: str | None = None) -> None:
        self.table = table = dialect.table(table, schema)
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
