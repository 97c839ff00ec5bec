"""Users to set up a test's store: written through the application on behalf of a given actor,
or over HTTP with `PASSWORD`."""

from __future__ import annotations

from typing import Any

from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate

# The password of users created over HTTP, which a database connection requires; it meets the
# default password policy so that the tests hold if creates ever enforce it, as Auth0's do.
PASSWORD = "Correct-horse-battery-9"


def create_user(
    profiles: UserProfiles,
    actor: Actor,
    profile: dict[str, Any] | None = None,
    connection: str = DEFAULT_CONNECTION,
    **fields: Any,
) -> str:
    """A new user with `profile` and the other `NewUser` fields given; returns its id."""
    written = profiles.create_user(
        NewUser(connection=connection, profile=profile or {}, **fields), actor
    )
    return written.user.user_id


def patch_user(
    profiles: UserProfiles, actor: Actor, user_id: str, **buckets: dict[str, Any] | None
) -> None:
    """Patches the user's metadata buckets given by name (None clears a bucket)."""
    profiles.update_user(user_id, UserUpdate(buckets=dict(buckets)), actor)
