"""The backends every storage contract runs on: SQLite files in a temporary directory, and a
fresh database on the test run's real PostgreSQL server.

A contract is an abstract class of tests (named without the `Test` prefix, so it is not
collected itself) whose fixtures open its store at `location`. Each concrete subclass names its
backend in a class attribute, `backend = "sqlite"` or `backend = "postgres"`, and `location`
gives that backend's store location; the PostgreSQL server starts only if a test needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles
from metaledger.domain.storage import PostgresDatabase, SQLiteFiles, StoreLocation, store_location

LOCATION_FIXTURES = {"sqlite": "sqlite_location", "postgres": "postgres_location"}


@pytest.fixture
def sqlite_location(tmp_path: Path) -> SQLiteFiles:
    """SQLite files, one per store, in a directory of the test's own."""
    return SQLiteFiles(tmp_path / "data")


@pytest.fixture
def postgres_location(postgres_url: str, tmp_path: Path) -> PostgresDatabase:
    """A database of the test's own on the real PostgreSQL server, dropped after the test."""
    location = store_location(postgres_url, tmp_path / "data")
    assert isinstance(location, PostgresDatabase)
    return location


@pytest.fixture
def location(request: pytest.FixtureRequest) -> StoreLocation:
    """Where the stores of the test live: the backend the concrete test class names."""
    backend = getattr(request.cls, "backend", None)
    if backend not in LOCATION_FIXTURES:
        pytest.fail(f"{request.node.nodeid}: its class sets no `backend` of {LOCATION_FIXTURES}")
    found: StoreLocation = request.getfixturevalue(LOCATION_FIXTURES[backend])
    return found


@pytest.fixture
def second_connection() -> str:
    """A connection the application knows besides the default one."""
    return "Contract-Second-Connection"


@pytest.fixture
def settings(tmp_path: Path, location: StoreLocation, second_connection: str) -> Settings:
    """The service's settings for stores at `location` (in place of the suite's fixture of the
    same name, which is parametrized over the backends itself)."""
    built = Settings(
        data_dir=location.directory if isinstance(location, SQLiteFiles) else tmp_path / "data",
        database_url=location.url if isinstance(location, PostgresDatabase) else None,
        connections=frozenset({DEFAULT_CONNECTION, second_connection}),
        # Cheap hashes keep the suite fast.
        argon2_time_cost=1,
        argon2_memory_cost_kib=1024,
        argon2_parallelism=1,
    )
    assert built.store == location
    return built


@pytest.fixture
def profiles(settings: Settings) -> Iterator[UserProfiles]:
    """The application on the event store at `location`, closed after the test."""
    application = build_profiles(settings)
    yield application
    application.close()
