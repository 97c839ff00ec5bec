"""The search suite's helpers: the application and the read model on the parametrized store."""

from __future__ import annotations

from typing import Any

import pytest

from api.bootstrap import Container
from domain.actor import Actor
from domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from projections.search.projector import Projector
from projections.search.store import SearchRequest, SearchStore

ACTOR = Actor(kind="client", id="search-client", grant="client-credentials")


@pytest.fixture
def profiles(container: Container) -> UserProfiles:
    return container.profiles


@pytest.fixture
def store(container: Container) -> SearchStore:
    return container.search


@pytest.fixture
def projector(container: Container) -> Projector:
    return Projector(container.profiles, container.search)


def create(
    profiles: UserProfiles,
    user_id: str,
    profile: dict[str, Any] | None = None,
    connection: str = DEFAULT_CONNECTION,
    **buckets: dict[str, Any],
) -> str:
    written = profiles.create_user(
        NewUser(connection=connection, profile=profile or {}, user_id=user_id, **buckets), ACTOR
    )
    return written.user.user_id


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    profiles.update_user(user_id, UserUpdate(buckets=dict(buckets)), ACTOR)


def found(store: SearchStore, q: str | None) -> set[str]:
    """The user ids a query finds."""
    result = store.search(SearchRequest(store.translator.translate(q), limit=1000))
    return {f.user.user_id for f in result.users}


def documents(store: SearchStore) -> dict[str, dict[str, Any]]:
    """Every user in the read model, as the search returns it."""
    result = store.search(SearchRequest(store.translator.translate(None), limit=100_000))
    return {f.user.user_id: f.user.as_auth0() for f in result.users}
