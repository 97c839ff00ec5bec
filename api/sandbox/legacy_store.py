"""The effects only custom-database scripts make: `pg` queries, run with psycopg on a DSN of the
connection's configuration under a statement timeout, and `bcrypt`, run by the bcrypt library.

A script run takes a session from its DSN's pool at its first query and gives it back when the
run ends, so one run's queries share one session, as with node's `pg` client.
"""

from __future__ import annotations

import threading
from typing import Any

import bcrypt
import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

# node's bcrypt reads at most 72 bytes of a password; Python's refuses longer ones.
BCRYPT_MAX_BYTES = 72
# A cost the script may ask of `bcrypt.hash`: each step doubles the work done in the API process.
BCRYPT_MAX_ROUNDS = 14
BCRYPT_MIN_ROUNDS = 4
# Rows a query may bring back into the sandbox.
MAX_ROWS = 1000
# Sessions kept open per legacy database (no more queries run at once than sandbox workers).
POOL_SIZE = 4


class LegacyStoreRefused(Exception):
    """A query or hash the script asked for that failed; the script's promise rejects."""


class LegacyPools:
    """A small pool of database sessions per legacy DSN, shared by every script run: a login
    does not pay for a new PostgreSQL connection. Each session runs in autocommit under the
    statement timeout, and is reset before another run gets it."""

    def __init__(self, timeout_seconds: float, size: int = POOL_SIZE) -> None:
        self.timeout_seconds = timeout_seconds
        self.size = size
        self._pools: dict[str, ConnectionPool[psycopg.Connection[Any]]] = {}
        self._lock = threading.Lock()

    def pool(self, dsn: str) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._lock:
            pool = self._pools.get(dsn)
            if pool is None:
                timeout_ms = max(int(self.timeout_seconds * 1000), 1)

                def configure(session: psycopg.Connection[Any]) -> None:
                    session.execute(f"SET statement_timeout = {timeout_ms}")

                def reset(session: psycopg.Connection[Any]) -> None:
                    # What a script changed in its session stays with it.
                    session.execute("DISCARD ALL")
                    configure(session)

                pool = ConnectionPool(
                    dsn,
                    min_size=0,
                    max_size=self.size,
                    # RawCursor: the `$1` placeholders of node's pg, sent as they are.
                    kwargs={"autocommit": True, "cursor_factory": psycopg.RawCursor},
                    configure=configure,
                    reset=reset,
                    timeout=self.timeout_seconds,
                    name="legacy",
                    open=True,
                )
                self._pools[dsn] = pool
            return pool

    def start(self) -> None:
        """Nothing to do: a pool opens at its DSN's first query."""

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class LegacySessions:
    """The database sessions of one script run, by DSN, returned to their pools when it ends;
    only DSNs of the connection's configuration are reached, so a script cannot point the
    service at another database."""

    def __init__(self, pools: LegacyPools, allowed_dsns: frozenset[str]) -> None:
        self.pools = pools
        self.allowed_dsns = allowed_dsns
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
        except (psycopg.Error, PoolTimeout) as error:
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
            session = self.pools.pool(dsn).getconn()
            self._sessions[dsn] = session
        return session

    def close(self) -> None:
        sessions, self._sessions = dict(self._sessions), {}
        for dsn, session in sessions.items():
            self.pools.pool(dsn).putconn(session)


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
