"""The effects only custom-database scripts make: `pg` queries, run with psycopg on a DSN of the
connection's configuration under a statement timeout, and `bcrypt`, run by the bcrypt library.

Each script run opens a database connection at its first query and closes it when the run
ends, so a script's queries share one session (and its temporary state) as with node's `pg`.
"""

from __future__ import annotations

from typing import Any

import bcrypt
import orjson
import psycopg

# node's bcrypt reads at most 72 bytes of a password; Python's refuses longer ones.
BCRYPT_MAX_BYTES = 72
# A cost the script may ask of `bcrypt.hash`: each step doubles the work done in the API process.
BCRYPT_MAX_ROUNDS = 14
BCRYPT_MIN_ROUNDS = 4
# Rows a query may bring back into the sandbox.
MAX_ROWS = 1000


class LegacyStoreRefused(Exception):
    """A query or hash the script asked for that failed; the script's promise rejects."""


class LegacySessions:
    """The database sessions of one script run, by DSN; only DSNs of the connection's
    configuration are reached, so a script cannot point the service at another database."""

    def __init__(self, allowed_dsns: frozenset[str], timeout_seconds: float) -> None:
        self.allowed_dsns = allowed_dsns
        self.timeout_ms = max(int(timeout_seconds * 1000), 1)
        self._sessions: dict[str, psycopg.Connection[Any]] = {}

    def query(self, payload: dict[str, Any]) -> dict[str, Any]:
        dsn = str(payload.get("dsn"))
        params = payload.get("params") or []
        if not isinstance(params, list):
            raise LegacyStoreRefused("query parameters must be an array")
        try:
            with self._session(dsn).cursor() as cursor:
                cursor.execute(str(payload.get("text")), params)
                fields = [column.name for column in cursor.description or []]
                rows = cursor.fetchmany(MAX_ROWS) if cursor.description else []
                count = cursor.rowcount
                command = (cursor.statusmessage or "").split(" ", 1)[0]
        except psycopg.Error as error:
            first_line = str(error).split("\n", 1)[0]
            raise LegacyStoreRefused(f"{type(error).__name__}: {first_line}") from None
        # JSON for the sandbox: dates as ISO text, decimals and the rest as text.
        records = orjson.loads(
            orjson.dumps([dict(zip(fields, row, strict=True)) for row in rows], default=str)
        )
        return {
            "rows": records,
            "rowCount": count,
            "fields": [{"name": name} for name in fields],
            "command": command,
        }

    def _session(self, dsn: str) -> psycopg.Connection[Any]:
        if dsn not in self.allowed_dsns:
            raise LegacyStoreRefused(
                "the connection string is not one of the connection's configuration values"
            )
        session = self._sessions.get(dsn)
        if session is None:
            # RawCursor: the `$1` placeholders of node's pg, sent to the server as they are.
            session = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=max(self.timeout_ms // 1000, 1),
                cursor_factory=psycopg.RawCursor,
            )
            session.execute(f"SET statement_timeout = {self.timeout_ms}")
            self._sessions[dsn] = session
        return session

    def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()


def bcrypt_effect(payload: dict[str, Any]) -> Any:
    """`bcrypt.compare` (a boolean) or `bcrypt.hash` (the hash)."""
    password = str(payload.get("password")).encode()[:BCRYPT_MAX_BYTES]
    if payload.get("op") == "compare":
        try:
            return bcrypt.checkpw(password, str(payload.get("hash")).encode())
        except ValueError:
            raise LegacyStoreRefused("Invalid salt version") from None
    if payload.get("op") == "hash":
        rounds = payload.get("rounds")
        if not isinstance(rounds, int) or not BCRYPT_MIN_ROUNDS <= rounds <= BCRYPT_MAX_ROUNDS:
            raise LegacyStoreRefused(
                f"bcrypt rounds must be from {BCRYPT_MIN_ROUNDS} to {BCRYPT_MAX_ROUNDS}"
            )
        return bcrypt.hashpw(password, bcrypt.gensalt(rounds)).decode()
    raise LegacyStoreRefused("unknown bcrypt operation")
