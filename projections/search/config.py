"""Builds the read model's store from the database URL, beside the event store."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.utils import Environment

from domain.profiles import UserProfiles
from domain.storage.config import is_postgres, postgres_env
from projections.search.postgres import PostgresSearchStore
from projections.search.sqlite import SQLiteSearchStore
from projections.search.store import SearchStore

SEARCH_FILE = "search.sqlite3"
# Names the library's environment and so the PostgreSQL tracking table (`search_tracking`).
PROJECTION_NAME = "search"


def search_store(database_url: str | None, data_dir: Path) -> SearchStore:
    """PostgreSQL tables when the event store is in PostgreSQL, else a SQLite file of its own
    under the data directory (never the event store's file)."""
    view_class: type[TrackingRecorder]
    if database_url and is_postgres(database_url):
        env = postgres_env(database_url)
        view_class = PostgresSearchStore
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / SEARCH_FILE),
        }
        view_class = SQLiteSearchStore
    env["CREATE_TABLE"] = "y"
    factory = InfrastructureFactory[TrackingRecorder].construct(Environment(PROJECTION_NAME, env))
    store = cast(SearchStore, factory.tracking_recorder(view_class))
    store.application_name = UserProfiles.name
    return store
