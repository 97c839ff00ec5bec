"""The auth suite's server: a public (SPA) and a confidential application beside the admin
client, claims copied from metadata, and a low brute-force limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from metaledger.api.auth.claims import claim_mapping
from metaledger.api.auth.clients import PASSWORD, PASSWORD_REALM, Client
from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from metaledger.domain.user import user_aggregate_id
from tests.support.server import RunningServer

SPA_CLIENT_ID = "spa-app"
BACKEND_CLIENT_ID = "backend-app"
BACKEND_CLIENT_SECRET = "backend-app-secret-0123456789"
OTHER_CONNECTION = "Partners"
MAX_ATTEMPTS = 3
PASSWORD_TEXT = "Correct-horse-9"
HOBBY_CLAIM = "https://metaledger.test/hobby"
PLAN_CLAIM = "https://metaledger.test/plan"
# A claim without a namespace, as Auth0 accepts them: the whole bucket under its own name.
BUCKET_CLAIM = "user_metadata"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        connections=frozenset({DEFAULT_CONNECTION, OTHER_CONNECTION}),
        applications=(
            Client(
                client_id=SPA_CLIENT_ID,
                client_secret=None,
                name="single-page app",
                grants=frozenset({PASSWORD, PASSWORD_REALM}),
                scopes=(),
                connections=frozenset({DEFAULT_CONNECTION}),
            ),
            Client(
                client_id=BACKEND_CLIENT_ID,
                client_secret=BACKEND_CLIENT_SECRET,
                name="backend",
                grants=frozenset({PASSWORD_REALM}),
                scopes=(),
                connections=frozenset({DEFAULT_CONNECTION, OTHER_CONNECTION}),
            ),
        ),
        claims=(
            claim_mapping(HOBBY_CLAIM, "user_metadata.hobby"),
            claim_mapping(PLAN_CLAIM, "app_metadata.plan"),
            claim_mapping(BUCKET_CLAIM, "user_metadata"),
        ),
        brute_force_max_attempts=MAX_ATTEMPTS,
    )


@pytest.fixture
def anonymous(server: RunningServer) -> Iterator[httpx.Client]:
    """A client without credentials, as a browser or a mobile app calls the service."""
    with httpx.Client(base_url=server.base_url) as client:
        yield client


def signup_body(email: str, **fields: object) -> dict[str, object]:
    return {
        "client_id": SPA_CLIENT_ID,
        "email": email,
        "password": PASSWORD_TEXT,
        "connection": DEFAULT_CONNECTION,
        **fields,
    }


def login_body(email: str, password: str = PASSWORD_TEXT, **fields: object) -> dict[str, object]:
    return {
        "grant_type": PASSWORD_REALM,
        "client_id": SPA_CLIENT_ID,
        "username": email,
        "password": password,
        "realm": DEFAULT_CONNECTION,
        **fields,
    }


def sign_up(client: httpx.Client, email: str, **fields: object) -> str:
    """Signs a user up and returns their user_id."""
    response = client.post("/dbconnections/signup", json=signup_body(email, **fields))
    assert response.status_code == 200, response.text
    return f"auth0|{response.json()['_id']}"


def events_of(container: Container, user_id: str) -> list[Any]:
    """Every stored event of one user, in order (typed loosely: tests read their fields)."""
    profiles = container.profiles
    stored = profiles.recorder.select_events(user_aggregate_id(user_id))
    return [profiles.mapper.to_domain_event(event) for event in stored]
