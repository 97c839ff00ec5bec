"""Leases in PostgreSQL: one node of a cluster runs each background worker, the others stand by.

A lease row per worker (`projector`, `relay`) names its holder, a generation bumped on every
change of holder, and an expiry in the database's clock, which the holder pushes forward on a
heartbeat. A standby takes a lease only once it has expired, so a node that died, lost the
database or stalled loses it within `ttl` seconds. A holder that cannot renew in time stops its
worker (`LeasedService`); and every write of a follower's position checks, in the same
transaction, that its generation still holds the lease (`FencedTracking`), so a node that
resumes after a stall cannot write once another took over. Each generation is kept in a history
table, from when it was taken to when it ended, which shows that terms never overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.rows import DictRow

log = logging.getLogger("metaledger.lease")

LEASES_TABLE = "metaledger_leases"
HISTORY_TABLE = "metaledger_lease_history"
PROJECTOR = "projector"
RELAY = "relay"
# Takeover within 5 s of a holder's death: the lease lasts 3 s, renewed every second, and a
# standby tries every half second.
DEFAULT_TTL = 3.0
# A transaction that passed the fence and then stalls holds the lease row's lock: the server
# ends it after this long idle, so the next holder is not held up for good.
FENCED_IDLE_TIMEOUT_MS = 1000
# How long a lease statement waits for that lock before the attempt is given up and retried.
LOCK_TIMEOUT_MS = 2000

DDL = (
    f"CREATE TABLE IF NOT EXISTS {LEASES_TABLE} (name text PRIMARY KEY, holder text NOT NULL, "
    "generation bigint NOT NULL, acquired_at timestamptz NOT NULL, "
    "expires_at timestamptz NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (name text NOT NULL, generation bigint NOT NULL, "
    "holder text NOT NULL, acquired_at timestamptz NOT NULL, ended_at timestamptz NOT NULL, "
    "released boolean NOT NULL DEFAULT false, PRIMARY KEY (name, generation))",
)
# Taken when free, expired, or held by this node under an older generation (a restart).
ACQUIRE = (
    f"INSERT INTO {LEASES_TABLE} AS l (name, holder, generation, acquired_at, expires_at) "
    "VALUES (%(name)s, %(node)s, 1, clock_timestamp(), "
    "clock_timestamp() + make_interval(secs => %(ttl)s)) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, generation = l.generation + 1, "
    "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
    "WHERE l.expires_at < clock_timestamp() "
    "RETURNING generation, acquired_at, expires_at"
)
RECORD = (
    f"INSERT INTO {HISTORY_TABLE} (name, generation, holder, acquired_at, ended_at) "
    "VALUES (%s, %s, %s, %s, %s)"
)
RENEW = (
    f"UPDATE {LEASES_TABLE} SET expires_at = clock_timestamp() + make_interval(secs => %s) "
    "WHERE name = %s AND holder = %s AND generation = %s AND expires_at > clock_timestamp() "
    "RETURNING expires_at"
)
EXTEND = f"UPDATE {HISTORY_TABLE} SET ended_at = %s WHERE name = %s AND generation = %s"
RELEASE = (
    f"UPDATE {LEASES_TABLE} SET expires_at = clock_timestamp() "
    "WHERE name = %s AND holder = %s AND generation = %s AND expires_at > clock_timestamp() "
    "RETURNING expires_at"
)
RELEASED = (
    f"UPDATE {HISTORY_TABLE} SET ended_at = %s, released = true WHERE name = %s AND generation = %s"
)
FENCE = (
    f"SELECT 1 FROM {LEASES_TABLE} WHERE name = %s AND holder = %s AND generation = %s "
    "AND expires_at > clock_timestamp() FOR SHARE"
)

Connect = Callable[[], "psycopg.Connection[Any]"]


class LeaseLost(Exception):
    """A write of a node that no longer holds the lease of its worker: refused."""


def create_tables(connection: psycopg.Connection[Any]) -> None:
    """The leases and their history (run under the schema lock, as all DDL is)."""
    for statement in DDL:
        connection.execute(statement)


@dataclass(frozen=True)
class Term:
    generation: int
    expires_at: float  # this process's monotonic clock: past it, the holder stops writing


class Lease:
    """The lease `name` as node `node` sees it: taken, renewed, released, and the fence that
    its writes pass."""

    def __init__(self, connect: Connect, name: str, node: str, ttl: float = DEFAULT_TTL) -> None:
        self.connect = connect
        self.name = name
        self.node = node
        self.ttl = ttl
        self.term: Term | None = None
        self._connection: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        term = self.term
        return term is not None and time.monotonic() < term.expires_at

    def try_acquire(self) -> bool:
        """Takes the lease if it is free or expired; whether this node now holds it."""
        started = time.monotonic()
        with self._transaction() as connection:
            row = connection.execute(
                ACQUIRE, {"name": self.name, "node": self.node, "ttl": self.ttl}
            ).fetchone()
            if row is None:
                return False
            generation, acquired_at, expires_at = row
            connection.execute(RECORD, (self.name, generation, self.node, acquired_at, expires_at))
        self.term = Term(generation, started + self.ttl)
        return True

    def renew(self) -> bool:
        """Pushes the expiry forward; False when the lease was lost (expired or taken)."""
        term = self.term
        if term is None:
            return False
        started = time.monotonic()
        with self._transaction() as connection:
            row = connection.execute(
                RENEW, (self.ttl, self.name, self.node, term.generation)
            ).fetchone()
            if row is None:
                self.term = None
                return False
            connection.execute(EXTEND, (row[0], self.name, term.generation))
        # Counted from before the statement: the database's expiry is at least as late.
        self.term = Term(term.generation, started + self.ttl)
        return True

    def release(self) -> None:
        """Gives the lease up at once, for a standby to take without waiting for the expiry."""
        term, self.term = self.term, None
        if term is None:
            return
        with self._transaction() as connection:
            row = connection.execute(RELEASE, (self.name, self.node, term.generation)).fetchone()
            if row is not None:
                connection.execute(RELEASED, (row[0], self.name, term.generation))

    def fence(self, curs: psycopg.Cursor[DictRow]) -> None:
        """In a write's transaction: raises LeaseLost unless this node's term still holds. The
        lease row stays locked (shared) until the write commits, so no standby takes the lease
        in between; a stalled transaction is ended by the server."""
        term = self.term
        if term is None:
            raise LeaseLost(f"{self.node} does not hold the {self.name} lease")
        curs.execute(f"SET LOCAL idle_in_transaction_session_timeout = {FENCED_IDLE_TIMEOUT_MS}")
        curs.execute(FENCE, (self.name, self.node, term.generation))
        if curs.fetchone() is None:
            self.term = None
            raise LeaseLost(
                f"{self.node} lost the {self.name} lease (generation {term.generation})"
            )

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _transaction(self) -> _LeaseTransaction:
        if self._connection is None or self._connection.closed:
            self._connection = self.connect()
            self._connection.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        return _LeaseTransaction(self)


class _LeaseTransaction:
    """The lease's connection in a transaction; a failure closes it (it may be what broke)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        assert lease._connection is not None
        self.connection = lease._connection
        self._transaction = self.connection.transaction()

    def __enter__(self) -> psycopg.Connection[Any]:
        self._transaction.__enter__()
        return self.connection

    def __exit__(self, *exc: Any) -> None:
        try:
            self._transaction.__exit__(*exc)
        finally:
            if exc[0] is not None:
                self.lease.close()


class FencedTracking(PostgresTrackingRecorder):
    """A tracking recorder whose position writes pass the lease's fence first, in the same
    transaction, when a fence is set (a worker run under a lease)."""

    fence: Callable[[psycopg.Cursor[DictRow]], None] | None = None

    def _insert_tracking(self, curs: psycopg.Cursor[DictRow], tracking: Tracking) -> None:
        if self.fence is not None:
            self.fence(curs)
        super()._insert_tracking(curs, tracking)


class Worker(Protocol):
    def start(self) -> None: ...

    def stop(self) -> object: ...


class LeasedService:
    """Runs a worker on this node only while it holds the worker's lease: tries to take it,
    starts a fresh worker once it has it (the worker reads its position from the store), renews
    it on a heartbeat, and stops the worker when renewing fails or comes too late."""

    def __init__(
        self,
        lease: Lease,
        make_worker: Callable[[], Worker],
        *,
        standby_interval: float = 0.5,
    ) -> None:
        self.lease = lease
        self.make_worker = make_worker
        self.standby_interval = standby_interval
        self.worker: Worker | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.worker is not None and self.lease.held

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{self.lease.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.lease.ttl)
        self._stop_worker()
        try:
            self.lease.release()
        except Exception as error:  # the database is away: the lease expires by itself
            log.warning("could not release the %s lease: %r", self.lease.name, error)
        self.lease.close()

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                self._step()
                failing = False
            except Exception as error:
                # Once when the database goes away, not at every attempt while it is away.
                log.log(
                    logging.DEBUG if failing else logging.WARNING,
                    "%s lease: %r",
                    self.lease.name,
                    error,
                )
                failing = True
                if self.worker is not None and not self.lease.held:
                    self._lost()
            pause = self.lease.ttl / 3 if self.worker is not None else self.standby_interval
            self._stopping.wait(pause)

    def _step(self) -> None:
        if self.worker is None:
            if self.lease.try_acquire():
                assert self.lease.term is not None
                log.info(
                    "%s is now the active %s (generation %d)",
                    self.lease.node,
                    self.lease.name,
                    self.lease.term.generation,
                )
                self.worker = self.make_worker()
                self.worker.start()
            return
        if not self.lease.held or not self.lease.renew():
            self._lost()

    def _lost(self) -> None:
        log.warning("%s lost the %s lease; standing by", self.lease.node, self.lease.name)
        self.lease.term = None
        self._stop_worker()

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease, as the database says now."""

    name: str
    holder: str
    generation: int
    live: bool  # not expired: the holder is active


def lease_states(connection: psycopg.Connection[Any]) -> list[LeaseState]:
    rows = connection.execute(
        f"SELECT name, holder, generation, expires_at > clock_timestamp() FROM {LEASES_TABLE} "
        "ORDER BY name"
    ).fetchall()
    return [LeaseState(*row) for row in rows]
