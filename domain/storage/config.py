"""Maps a store location onto the `eventsourcing` library's environment."""

from __future__ import annotations

from metaledger.domain.storage.location import PostgresDatabase, SQLiteFiles, StoreLocation

RECORDERS = "metaledger.domain.storage.recorders"
EVENTS_FILE = "events.sqlite3"


def library_env(
    location: StoreLocation, sqlite_file: str, *, pool_size: int = 10, max_overflow: int = 20
) -> dict[str, str]:
    """The library's settings for a store at `location` (`sqlite_file` names its SQLite file)."""
    if isinstance(location, SQLiteFiles):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(location.file(sqlite_file)),
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
    }
    if location.schema is not None:
        env["POSTGRES_SCHEMA"] = location.schema
    return env


def event_store_env(
    location: StoreLocation, aggregate_cache_size: int = 0, create_tables: bool = True
) -> dict[str, str]:
    """The event store, with the tables kept beside the events (`recorders`).

    With a cache, a read fetches only the events stored after the cached version (the library's
    fast-forward), so it stays correct when several processes write. Without `create_tables`,
    the tables must exist (PostgreSQL refuses concurrent DDL on its catalog).
    """
    env = library_env(location, EVENTS_FILE)
    recorder = (
        "PostgresProfilesRecorder"
        if isinstance(location, PostgresDatabase)
        else "SQLiteProfilesRecorder"
    )
    env["APPLICATION_RECORDER_TOPIC"] = f"{RECORDERS}:{recorder}"
    env["CREATE_TABLE"] = "y" if create_tables else "n"
    if aggregate_cache_size > 0:
        env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache_size)
    return env
