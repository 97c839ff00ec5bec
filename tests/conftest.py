"""Fixtures shared by every layer: real PostgreSQL, backends, containers, servers, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from tests.support.kafka_broker import KafkaBroker
from tests.support.oauth import client_credentials_token
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer

ADMIN_CLIENT_ID = "test-admin"
ADMIN_CLIENT_SECRET = "test-admin-secret-0123456789"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One real Kafka broker for the whole run; tests use topics of their own."""
    broker = KafkaBroker()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None selects the embedded SQLite store; otherwise a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


def suite_settings(data_dir: Path, database_url: str | None = None) -> Settings:
    """The suite's settings: the known admin client, a fixed issuer, cheap password hashes."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_client_id=ADMIN_CLIENT_ID,
        admin_client_secret=ADMIN_CLIENT_SECRET,
        issuer="http://metaledger.test/",
        # Cheap hashes keep the suite fast; the benchmark measures the real parameters.
        argon2_time_cost=1,
        argon2_memory_cost_kib=1024,
        argon2_parallelism=1,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return suite_settings(tmp_path / "data", database_url)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build_http(settings)
    yield built
    built.close()


@pytest.fixture
def server(container: Container) -> Iterator[RunningServer]:
    with RunningServer(container) as running:
        yield running


def admin_token(base_url: str, scope: str | None = None) -> str:
    return client_credentials_token(
        base_url, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, "http://metaledger.test/api/v2/", scope
    )


@pytest.fixture
def token(server: RunningServer) -> str:
    return admin_token(server.base_url)


@pytest.fixture
def http(server: RunningServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client
