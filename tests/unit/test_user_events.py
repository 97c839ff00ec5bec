"""What the User aggregate records: the patch as sent, per-key changes and the actor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from metaledger.domain.actor import Actor
from metaledger.domain.errors import UserNotFound
from metaledger.domain.user import (
    REDACTED,
    User,
    created_user,
    format_stored_timestamp,
    format_timestamp,
    user_of_created,
)

ACTOR = Actor(kind="client", id="client-1", grant="client-credentials", request_id="req-1")


def new_user(**metadata: dict[str, Any]) -> User:
    user = User(
        user_id="auth0|0123456789abcdef01234567",
        connection="Username-Password-Authentication",
        profile={"email": "jane@example.com", "name": "Jane"},
        user_metadata=metadata.get("user_metadata", {}),
        app_metadata=metadata.get("app_metadata", {}),
        actor=ACTOR.as_dict(),
    )
    user.collect_events()
    return user


def test_creation_records_user_created_with_the_actor() -> None:
    user = User(
        user_id="auth0|0123456789abcdef01234567",
        connection="Username-Password-Authentication",
        profile={},
        user_metadata={"hobby": "surfing"},
        app_metadata={},
        actor=ACTOR.as_dict(),
    )
    (created,) = user.collect_events()
    assert type(created).__name__ == "UserCreated"
    assert created.actor == ACTOR.as_dict()  # type: ignore[attr-defined]
    assert created.user_metadata == {"hobby": "surfing"}  # type: ignore[attr-defined]


def test_app_metadata_patch_records_patch_changes_and_actor() -> None:
    user = new_user(app_metadata={"plan": "free", "roles": ["viewer"]})
    user.patch_app_metadata({"plan": "pro", "trial": None}, ACTOR.as_dict())
    (patched,) = user.collect_events()
    assert type(patched).__name__ == "AppMetadataPatched"
    assert patched.patch == {"plan": "pro", "trial": None}  # type: ignore[attr-defined]
    assert patched.changes == {"plan": {"old": "free", "new": "pro"}}  # type: ignore[attr-defined]
    assert patched.actor["request_id"] == "req-1"  # type: ignore[attr-defined]
    assert user.app_metadata == {"plan": "pro", "roles": ["viewer"]}


def test_user_metadata_patch_leaves_app_metadata_alone() -> None:
    user = new_user(user_metadata={"hobby": "surfing"}, app_metadata={"plan": "free"})
    user.patch_user_metadata({"color": "blue"}, ACTOR.as_dict())
    (patched,) = user.collect_events()
    assert type(patched).__name__ == "UserMetadataPatched"
    assert user.user_metadata == {"hobby": "surfing", "color": "blue"}
    assert user.app_metadata == {"plan": "free"}


def test_profile_update_hides_password_hashes_in_changes() -> None:
    user = new_user()
    user.update_profile({"password_hash": "$argon2id$new", "name": "J."}, ACTOR.as_dict())
    (updated,) = user.collect_events()
    assert updated.changes == {  # type: ignore[attr-defined]
        "password": {"old": None, "new": REDACTED},
        "name": {"old": "Jane", "new": "J."},
    }
    assert user.profile["password_hash"] == "$argon2id$new"
    assert "password_hash" not in user.as_auth0()


def test_profile_update_with_null_unsets_the_attribute() -> None:
    user = new_user()
    user.update_profile({"name": None}, ACTOR.as_dict())
    assert "name" not in user.as_auth0()


def test_a_deleted_user_is_not_found() -> None:
    user = new_user()
    user.delete(ACTOR.as_dict())
    with pytest.raises(UserNotFound):
        user.ensure_live()


def test_auth0_view_has_the_bare_id_in_identities_and_millisecond_timestamps() -> None:
    view = new_user().as_auth0()
    assert view["identities"] == [
        {
            "connection": "Username-Password-Authentication",
            "user_id": "0123456789abcdef01234567",
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    assert view["created_at"].endswith("Z")
    assert len(view["created_at"]) == len("2026-01-01T00:00:00.000Z")


def test_stored_topics_keep_the_module_path_events_were_first_stored_under() -> None:
    # Stored events name their class by topic (and authenticate it); the code moved under
    # `metaledger.`, the topics in the store did not.
    stored = (
        User,
        vars(User)["UserCreated"],
        User.UserMetadataPatched,
        User.AppMetadataPatched,
        User.UserProfileUpdated,
        User.UserDeleted,
        User.UserLoggedIn,
    )
    assert [get_topic(cls) for cls in stored] == [
        "domain.user:User",
        "domain.user:User.UserCreated",
        "domain.user:User.UserMetadataPatched",
        "domain.user:User.AppMetadataPatched",
        "domain.user:User.UserProfileUpdated",
        "domain.user:User.UserDeleted",
        "domain.user:User.UserLoggedIn",
    ]


JANE: dict[str, Any] = {
    "user_id": "auth0|0123456789abcdef01234567",
    "connection": "Username-Password-Authentication",
    "profile": {"email": "jane@example.com"},
    "user_metadata": {"hobby": "surfing"},
    "app_metadata": {"plan": "pro"},
    "actor": ACTOR.as_dict(),
}


def test_created_user_is_what_the_decorated_constructor_makes() -> None:
    fields = JANE
    made, built = User(**fields), created_user(**fields)
    (made_event,) = made.collect_events()
    (built_event,) = built.collect_events()
    assert type(built_event) is type(made_event)
    # Field order too: the stored event's JSON is written in it.
    assert list(vars(built_event).items()) == [
        (name, vars(built_event)["timestamp"] if name == "timestamp" else value)
        for name, value in vars(made_event).items()
    ]
    assert vars(built) | {"_created_on": None, "_modified_on": None} == vars(made) | {
        "_created_on": None,
        "_modified_on": None,
    }


def test_a_user_of_its_created_event_is_what_the_librarys_mutate_makes() -> None:
    (created,) = created_user(**JANE).collect_events()

    built, mutated = user_of_created(created), created.mutate(None)

    assert list(vars(built).items()) == list(vars(mutated).items())


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_stored_time_formats_as_the_moment_it_holds(moment: datetime) -> None:
    stored = orjson.loads(orjson.dumps({"moment": moment}))["moment"]

    assert format_stored_timestamp(stored) == format_timestamp(moment)
