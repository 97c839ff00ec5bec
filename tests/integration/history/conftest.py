"""The history suite's helpers: the application on the parametrized store, and users in it."""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import UserProfiles
from tests.support.users import create_user, patch_user

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
    return create_user(profiles, ACTOR, profile, **fields)


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    patch_user(profiles, ACTOR, user_id, **buckets)
