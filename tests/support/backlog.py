"""A backlog of stored events written fast: many users per transaction, each with a history."""

from __future__ import annotations

from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles
from metaledger.domain.user import User

ACTOR = Actor(kind="client", id="backlog", grant="client-credentials").as_dict()
PLANS = ("free", "pro", "enterprise")
USERS_PER_SAVE = 500


def write_backlog(profiles: UserProfiles, users: int, events_per_user: int, first: int = 0) -> int:
    """`users` new users with `events_per_user` events each (creation, then metadata patches
    alternating between the two buckets); returns the position of the last event."""
    for start in range(first, first + users, USERS_PER_SAVE):
        batch = []
        for number in range(start, min(start + USERS_PER_SAVE, first + users)):
            user = User(
                user_id=f"auth0|backlog{number:017d}",
                connection=DEFAULT_CONNECTION,
                profile={"email": f"user{number}@example.com", "name": f"User {number}"},
                user_metadata={"theme": "dark"},
                app_metadata={"plan": "free", "roles": ["viewer"]},
                actor=ACTOR,
            )
            for change in range(1, events_per_user):
                if change % 2:
                    user.patch_app_metadata({"plan": PLANS[change % 3], "seen": change}, ACTOR)
                else:
                    user.patch_user_metadata({"seen": change}, ACTOR)
            batch.append(user)
        profiles.save(*batch)
    return profiles.recorder.max_notification_id() or 0
