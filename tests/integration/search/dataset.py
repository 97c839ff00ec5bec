"""A fixed set of users that exercises every part of the query language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from metaledger.projections.search.projector import Projector
from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.integration.search.conftest import ACTOR, create
from tests.support.postgres import PostgresServer

OTHER_CONNECTION = "Other-Connection"

JANE = "auth0|jane"
JOHN = "auth0|john"
ALICE = "auth0|alice"
BOB = "auth0|bob"
CAROL = "auth0|carol"
DAVE = "auth0|dave"
ERIN = "auth0|erin"
FRANK = "auth0|frank"
GRACE = "auth0|grace"
EVERYONE = frozenset({JANE, JOHN, ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GRACE})


def seed(container: Container) -> None:
    profiles = container.profiles
    create(
        profiles,
        JANE,
        {
            "email": "Jane.Doe@Example.com",
            "email_verified": True,
            "name": "Jane Doe",
            "given_name": "Jane",
            "family_name": "Doe",
            "nickname": "janed",
            "phone_number": "+15550001111",
        },
        user_metadata={
            "display": {"preferredLanguage": "fr", "fontSize": 13},
            "addresses": [{"city": "Paris", "zip": "75001"}, {"city": "Lyon"}],
            "hobby": "Surfing",
        },
        app_metadata={
            "plan": "pro",
            "roles": ["admin", "editor"],
            "seats": 25,
            "trial_ends": "2024-03-15",
            "active": True,
            "score": 4.5,
        },
    )
    create(
        profiles,
        JOHN,
        {
            "email": "john.smith@example.org",
            "name": "John Smith",
            "given_name": "John",
            "family_name": "Smith",
            "nickname": "johnny",
        },
        user_metadata={"hobby": "surfing", "addresses": [{"city": "London"}]},
        app_metadata={"plan": "free", "roles": ["viewer"], "seats": 1, "active": False},
    )
    create(
        profiles,
        ALICE,
        {"email": "alice@corp.example.com", "name": "Alice Liddell", "blocked": True},
        app_metadata={
            "plan": "enterprise",
            "roles": ["admin"],
            "seats": 500,
            "subscription": {"plan": "gold", "renews": "2025-01-01"},
        },
    )
    create(
        profiles,
        BOB,
        {"email": "bob@example.com", "name": "Bob", "username": "bobby"},
        app_metadata={"plan": "pro", "seats": "25"},
    )
    create(profiles, CAROL, {"phone_number": "+15550002222"})
    create(profiles, DAVE, {"email": "dave.usa@example.com", "name": "Dave Usa"})
    create(
        profiles, ERIN, {"email": "erin@example.com", "name": "Erin O'Hara", "nickname": "e*rin"}
    )
    create(profiles, FRANK, {"email": "frank@example.net"}, connection=OTHER_CONNECTION)
    create(profiles, GRACE, {"email": "grace@example.com", "name": "Grace Hopper"})
    for _ in range(2):
        profiles.record_login(GRACE, "203.0.113.7", "app", ACTOR)
    Projector(profiles, container.search).catch_up()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dataset(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
) -> Iterator[Container]:
    """The users above, projected, on one backend; shared by a module's read-only tests."""
    database = postgres_server.create_database() if request.param == "postgres" else None
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dataset") / "data",
        database_url=postgres_server.url(database) if database else None,
        admin_client_id=ADMIN_CLIENT_ID,
        admin_client_secret=ADMIN_CLIENT_SECRET,
        connections=frozenset({DEFAULT_CONNECTION, OTHER_CONNECTION}),
        embedded_workers=False,
    )
    container = build_http(settings)
    seed(container)
    yield container
    container.search.close()
    container.profiles.close()
    if database:
        postgres_server.drop_database(database)
