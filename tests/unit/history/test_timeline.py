"""History entries: the patch and per-key changes each event shows, with qualified keys."""

from __future__ import annotations

from typing import Any

from metaledger.domain.actor import Actor
from metaledger.domain.erasure import ERASED
from metaledger.domain.timeline import EVENT_TOPICS, entry_for, event_name, format_instant
from metaledger.domain.user import REDACTED, User

ACTOR = Actor(kind="user", id="auth0|abc", grant="password", request_id="r-1", ip="10.0.0.7")


def events_of(user: User) -> list[Any]:
    return list(user.collect_events())


def new_user() -> User:
    return User(
        user_id="auth0|abc",
        connection="Username-Password-Authentication",
        profile={"email": "jane@example.com", "password_hash": "$argon2id$secret"},
        user_metadata={"hobby": "surfing"},
        app_metadata={"plan": "free"},
        actor=ACTOR.as_dict(),
    )


def test_creation_shows_every_initial_value_as_a_change_from_nothing() -> None:
    (created,) = events_of(new_user())
    entry = entry_for(created)
    assert entry.event == "UserCreated"
    assert entry.version == 1
    assert entry.changes == {
        "email": {"old": None, "new": "jane@example.com"},
        "password": {"old": None, "new": REDACTED},
        "user_metadata.hobby": {"old": None, "new": "surfing"},
        "app_metadata.plan": {"old": None, "new": "free"},
    }


def test_the_password_hash_never_shows_in_the_patch() -> None:
    (created,) = events_of(new_user())
    patch = entry_for(created).patch or {}
    assert "password_hash" not in patch
    assert patch["password"] == REDACTED


def test_a_metadata_patch_shows_the_bucket_patch_and_qualified_changes() -> None:
    user = new_user()
    user.collect_events()
    user.patch_app_metadata({"plan": "pro", "seats": 5}, ACTOR.as_dict())
    (patched,) = events_of(user)
    entry = entry_for(patched)
    assert entry.patch == {"app_metadata": {"plan": "pro", "seats": 5}}
    assert entry.changes == {
        "app_metadata.plan": {"old": "free", "new": "pro"},
        "app_metadata.seats": {"old": None, "new": 5},
    }


def test_a_profile_update_shows_root_attributes_unqualified() -> None:
    user = new_user()
    user.collect_events()
    user.update_profile({"given_name": "Jane"}, ACTOR.as_dict())
    (updated,) = events_of(user)
    assert entry_for(updated).changes == {"given_name": {"old": None, "new": "Jane"}}


def test_an_entry_touches_a_key_and_the_bucket_above_it() -> None:
    user = new_user()
    user.collect_events()
    user.patch_app_metadata({"plan": "pro"}, ACTOR.as_dict())
    entry = entry_for(events_of(user)[0])
    assert entry.touches("app_metadata.plan")
    assert entry.touches("app_metadata")
    assert not entry.touches("app_metadata.pla")
    assert not entry.touches("user_metadata")


def test_an_erased_event_keeps_its_envelope_but_shows_no_payload() -> None:
    (created,) = events_of(new_user())
    vars(created)[ERASED] = True
    entry = entry_for(created)
    assert entry.erased
    assert entry.patch is None
    assert entry.changes is None
    assert entry.actor == ACTOR.as_dict()


class Noted(User.Event):
    """An event the timeline has no renderer for."""

    TOPIC = "tests.unit.history.test_timeline:Noted"  # the User's events carry explicit topics
    note: str
    actor: dict[str, Any]


def test_an_event_this_module_does_not_render_shows_its_fields() -> None:
    user = new_user()
    user.collect_events()
    user.trigger_event(Noted, note="called support", actor=ACTOR.as_dict())
    entry = entry_for(events_of(user)[0])
    assert entry.event == "Noted"
    assert entry.patch == {"note": "called support"}
    assert entry.changes == {}
    assert entry.actor == ACTOR.as_dict()


def test_times_render_to_the_microsecond_in_utc() -> None:
    (created,) = events_of(new_user())
    text = format_instant(created.timestamp)
    assert text.endswith("Z")
    assert text[20:26] == f"{created.timestamp.microsecond:06d}"


def test_every_stored_event_name_maps_to_its_topic() -> None:
    assert set(EVENT_TOPICS) >= {
        "UserCreated",
        "UserMetadataPatched",
        "AppMetadataPatched",
        "UserProfileUpdated",
        "UserDeleted",
    }
    assert all(event_name(topic) == name for name, topic in EVENT_TOPICS.items())
