"""Maps metaledger's settings onto the `eventsourcing` library's environment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


def is_postgres(database_url: str | None) -> bool:
    return bool(database_url) and urlparse(database_url).scheme in {
        "postgres",
        "postgresql",
    }


def postgres_env(database_url: str) -> dict[str, str]:
    """`postgresql://user:password@host:port/dbname?schema=…` as POSTGRES_* settings."""
    url = urlparse(database_url)
    query = parse_qs(url.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": query.get("host", [url.hostname or "127.0.0.1"])[0],
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "20",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def event_store_env(
    database_url: str | None,
    data_dir: Path,
    aggregate_cache_size: int = 0,
    create_tables: bool = True,
) -> dict[str, str]:
    """The event store: PostgreSQL when a postgresql:// URL is given, else a SQLite file.

    With a cache, a read fetches only the events stored after the cached version (the library's
    fast-forward), so it stays correct when several processes write. Without `create_tables`,
    the tables must exist (PostgreSQL refuses concurrent DDL on its catalog).
    """
    if database_url and is_postgres(database_url):
        env = postgres_env(database_url)
        env["APPLICATION_RECORDER_TOPIC"] = "domain.storage.recorders:PostgresProfilesRecorder"
    elif database_url:
        raise ValueError(f"unsupported METALEDGER_DATABASE_URL scheme: {database_url!r}")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / "events.sqlite3"),
            "APPLICATION_RECORDER_TOPIC": "domain.storage.recorders:SQLiteProfilesRecorder",
        }
    env["CREATE_TABLE"] = "y" if create_tables else "n"
    if aggregate_cache_size > 0:
        env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache_size)
    return env
