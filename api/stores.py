"""Builds every store from the one `StoreLocation` the settings parsed: the event store (with
the tables beside it), the search read model, the relay's position and a consumer's database.

SQLite files live side by side under the data directory, one per store (a follower's position is
keyed by application name only, and its writes must not contend for the event store's lock); on
PostgreSQL every store is a set of tables in the one database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.utils import Environment

from metaledger.api.auth.browser_grants import BrowserGrants
from metaledger.api.auth.failure_store import (
    FailureStatements,
    SqlTables,
    StoredLoginFailures,
    StreakStatements,
)
from metaledger.api.code_store import TenantCode
from metaledger.api.job_store import SqlJobStore
from metaledger.consumers.database import Database
from metaledger.domain.metadata import MetadataLimits
from metaledger.domain.ports import PasswordHasher
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.storage import (
    EVENTS_FILE,
    PostgresDatabase,
    StoreLocation,
    event_store_env,
    library_env,
)
from metaledger.projections.audit.postgres import PostgresAuditStore
from metaledger.projections.audit.sqlite import SQLiteAuditStore
from metaledger.projections.audit.store import AuditStore
from metaledger.projections.lease import (
    FencedTracking,
    Lease,
    LeaseState,
    create_tables,
    lease_states,
)
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.search.postgres import PostgresSearchStore
from metaledger.projections.search.sqlite import SQLiteSearchStore
from metaledger.projections.search.store import SearchStore

SEARCH_FILE = "search.sqlite3"
RELAY_FILE = "relay.sqlite3"
AUDIT_FILE = "audit.sqlite3"
# Each names the library's environment and so its PostgreSQL tracking table (`search_tracking`,
# `relay_tracking`).
SEARCH_NAME = "search"
RELAY_NAME = "relay"
AUDIT_NAME = "audit"

Recorder = TypeVar("Recorder", bound=TrackingRecorder)

# The key of the session advisory lock that every process holds while it creates or upgrades
# tables in PostgreSQL: concurrent CREATE TABLE IF NOT EXISTS collide on the catalog.
SCHEMA_LOCK_KEY = 0x6D6C_7363  # "mlsc"


class StoreNotFound(Exception):
    """A command that only reads found no event store where the settings point."""


def user_profiles(
    location: StoreLocation,
    *,
    aggregate_cache_size: int = 0,
    create_tables: bool = True,
    connections: frozenset[str],
    limits: MetadataLimits,
    passwords: PasswordHasher,
) -> UserProfiles:
    return UserProfiles(
        event_store_env(location, aggregate_cache_size, create_tables),
        connections=connections,
        limits=limits,
        passwords=passwords,
    )


def ensure_event_store_exists(location: StoreLocation) -> None:
    """Raises StoreNotFound, naming the place it looked, when no event store is there: a
    command that only reads must not create an empty store and answer from it."""
    if isinstance(location, PostgresDatabase):
        table = f"{UserProfiles.name.lower()}_events"
        with location.connect() as connection:
            row = connection.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if row is None or row[0] is None:
            raise StoreNotFound(f"no event store in {location.describe()}")
    elif not (location.directory / EVENTS_FILE).exists():
        raise StoreNotFound(
            f"no event store at {location.directory / EVENTS_FILE} (METALEDGER_DATA_DIR and "
            "METALEDGER_DATABASE_URL say where the store is)"
        )


def search_store(location: StoreLocation) -> SearchStore:
    """The read model: tables beside the event store's in PostgreSQL, else a file of its own."""
    store: SearchStore
    if isinstance(location, PostgresDatabase):
        store = _tracking_recorder(
            SEARCH_NAME, library_env(location, SEARCH_FILE), PostgresSearchStore
        )
    else:
        store = _tracking_recorder(
            SEARCH_NAME, library_env(location, SEARCH_FILE), SQLiteSearchStore
        )
    store.application_name = UserProfiles.name
    return store


def audit_store(location: StoreLocation) -> AuditStore:
    """The audit read model: tables beside the event store's in PostgreSQL, else a file."""
    store: AuditStore
    env = library_env(location, AUDIT_FILE)
    if isinstance(location, PostgresDatabase):
        store = _tracking_recorder(AUDIT_NAME, env, PostgresAuditStore)
    else:
        store = _tracking_recorder(AUDIT_NAME, env, SQLiteAuditStore)
    store.application_name = UserProfiles.name
    return store


def relay_position(location: StoreLocation) -> RelayPosition:
    env = library_env(location, RELAY_FILE, pool_size=1, max_overflow=1)
    if isinstance(location, PostgresDatabase):  # its writes may pass a lease's fence
        return RelayPosition(_tracking_recorder(RELAY_NAME, env, FencedTracking))
    return RelayPosition(_factory(RELAY_NAME, env).tracking_recorder())


@contextmanager
def schema_lock(location: StoreLocation) -> Iterator[None]:
    """On PostgreSQL, held while this process makes its stores: any number of nodes starting at
    once create or upgrade the tables one after the other (the others find them made). The
    leases' tables are made here too. Taken again inside, it is already held."""
    if not isinstance(location, PostgresDatabase):
        yield
        return
    with _schema_lock:
        if _schema_lock_depth.value:
            _schema_lock_depth.value += 1
            try:
                yield
            finally:
                _schema_lock_depth.value -= 1
            return
        with location.connect() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
            _schema_lock_depth.value = 1
            try:
                create_tables(connection)
                yield
            finally:
                _schema_lock_depth.value = 0
                connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


class _Depth(threading.local):
    value = 0


# The threads of a process take the lock in turn; the one that holds it may take it again.
_schema_lock = threading.RLock()
_schema_lock_depth = _Depth()


def is_shared(location: StoreLocation) -> bool:
    """Whether several nodes may use the store (PostgreSQL), their workers then under leases."""
    return isinstance(location, PostgresDatabase)


def lease(location: StoreLocation, name: str, node: str) -> Lease | None:
    """The lease `name` in PostgreSQL; None on SQLite, where one node runs everything."""
    if not isinstance(location, PostgresDatabase):
        return None
    return Lease(location.connect, name, node)


def consumer_database(location: StoreLocation, filename: str) -> Database:
    """A consumer's tables and inbox: in PostgreSQL, else in the SQLite file `filename`."""
    if isinstance(location, PostgresDatabase):
        return Database.in_postgres(location)
    return Database.in_sqlite_file(location.file(filename))


def login_failures(
    profiles: UserProfiles, statements: type[FailureStatements] = StreakStatements
) -> StoredLoginFailures:
    """Failed-login counts (streaks unless told), in a table of the event store's database."""
    return StoredLoginFailures(_side_tables(profiles), statements)


def tenant_code(profiles: UserProfiles) -> TenantCode:
    """Rules, actions and their settings, in a table of the event store's database."""
    return TenantCode(_side_tables(profiles))


def job_store(profiles: UserProfiles) -> SqlJobStore:
    """Bulk jobs and their per-line errors, in tables of the event store's database."""
    return SqlJobStore(_side_tables(profiles))


def browser_grants(profiles: UserProfiles) -> BrowserGrants:
    """Browser sessions, codes, login tickets and refresh tokens, in a table of the event
    store's database."""
    return BrowserGrants(_side_tables(profiles))


def _side_tables(profiles: UserProfiles) -> SqlTables:
    """The event store's recorder, which runs the statements of the tables kept beside it."""
    recorder = profiles.recorder
    if not isinstance(recorder, SqlTables):
        raise TypeError(f"{type(recorder).__name__} runs no statements on tables of its own")
    return recorder


def _tracking_recorder(name: str, env: dict[str, str], kind: type[Recorder]) -> Recorder:
    recorder = _factory(name, env).tracking_recorder(kind)
    assert isinstance(recorder, kind)  # the library builds the class it is given
    return recorder


def _factory(name: str, env: dict[str, str]) -> InfrastructureFactory[TrackingRecorder]:
    env["CREATE_TABLE"] = "y"
    return InfrastructureFactory[TrackingRecorder].construct(Environment(name, env))


def leases(location: StoreLocation) -> list[LeaseState]:
    """Who holds each lease of the cluster now; none on SQLite."""
    if not isinstance(location, PostgresDatabase):
        return []
    with location.connect() as connection:
        return lease_states(connection)
