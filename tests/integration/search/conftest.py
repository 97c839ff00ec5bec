"""The search suite's helpers: the application and the read model on the parametrized store."""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.projector import Projector
from metaledger.projections.search.store import SearchRequest, SearchStore
from tests.support.users import create_user, patch_user

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
    profiles: UserProfiles, user_id: str, profile: dict[str, Any] | None = None, **fields: Any
) -> str:
    return create_user(profiles, ACTOR, profile, user_id=user_id, **fields)


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    patch_user(profiles, ACTOR, user_id, **buckets)


def found(store: SearchStore, q: str | None) -> set[str]:
    """The user ids a query finds."""
    result = store.search(SearchRequest(store.translator.translate(q), limit=1000))
    return {f.user().user_id for f in result.users}


def documents(store: SearchStore) -> dict[str, dict[str, Any]]:
    """Every user in the read model, as the search returns it."""
    result = store.search(SearchRequest(store.translator.translate(None), limit=100_000))
    return {f.user().user_id: f.document() for f in result.users}
