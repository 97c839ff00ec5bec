"""The history suite's helpers: the application on the parametrized store, and users in it."""

from __future__ import annotations

from typing import Any

import pytest

from api.bootstrap import Container
from domain.actor import Actor
from domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate

ACTOR = Actor(
    kind="client",
    id="history-client",
    grant="client-credentials",
    request_id="req-7",
    ip="10.1.2.3",
)


@pytest.fixture
def profiles(container: Container) -> UserProfiles:
    return container.profiles


def create(profiles: UserProfiles, profile: dict[str, Any] | None = None, **fields: Any) -> str:
    written = profiles.create_user(
        NewUser(connection=DEFAULT_CONNECTION, profile=profile or {}, **fields), ACTOR
    )
    return written.user.user_id


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    profiles.update_user(user_id, UserUpdate(buckets=dict(buckets)), ACTOR)
