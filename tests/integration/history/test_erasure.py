"""Erasure on the real stores: the user's key is destroyed with UserDeleted, after which no
byte of their personal data is left in the event store, while history keeps its shape."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate
from psycopg import sql

from metaledger.api.settings import Settings
from metaledger.domain.erasure import is_erased
from metaledger.domain.errors import UserNotFound
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.user import User, user_aggregate_id
from tests.integration.history.conftest import ACTOR, create, patch

EMAIL = "jane.doe.secret@example.com"
PROFILE = {
    "email": EMAIL,
    "given_name": "Janeseventeen",
    "family_name": "Doeprivate",
    "name": "Jane Quentin Private",
    "nickname": "janeyquentin",
    "phone_number": "+15550199887",
}
METADATA_VALUES = ("falconry-secret", "42 Hidden Lane", "platinum-secret", "987654321")
PERSONAL = (
    *PROFILE.values(),
    *METADATA_VALUES,
    hashlib.md5(EMAIL.encode(), usedforsecurity=False).hexdigest(),  # in the picture URL
)


def stored_bytes(settings: Settings) -> bytes:
    """Everything the event store holds: the SQLite files, or every row of every table."""
    if settings.database_url is None:
        files = sorted(settings.data_dir.glob("events.sqlite3*"))
        return b"\n".join(path.read_bytes() for path in files)
    chunks: list[bytes] = []
    with psycopg.connect(settings.database_url) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
            for row in connection.execute(query):
                chunks.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"\n".join(chunks)


def found(settings: Settings) -> list[str]:
    everything = stored_bytes(settings)
    return [value for value in PERSONAL if value.encode() in everything]


def jane(profiles: UserProfiles) -> str:
    user_id = create(
        profiles,
        PROFILE,
        user_metadata={"hobby": "falconry-secret"},
        app_metadata={"plan": "platinum-secret"},
    )
    # Past the snapshot interval, so a snapshot holds the personal data too.
    for number in range(55):
        patch(profiles, user_id, app_metadata={"n": number})
    patch(profiles, user_id, user_metadata={"address": {"street": "42 Hidden Lane"}})
    patch(profiles, user_id, app_metadata={"customer_no": 987654321})
    return user_id


def test_personal_data_is_sealed_at_rest_apart_from_the_email_index(
    profiles: UserProfiles, settings: Settings
) -> None:
    jane(profiles)
    assert found(settings) == [EMAIL]


def test_after_erasure_no_byte_of_the_users_personal_data_is_stored(
    profiles: UserProfiles, settings: Settings
) -> None:
    user_id = jane(profiles)
    profiles.delete_user(user_id, ACTOR, erase=True)
    assert found(settings) == []


def test_the_destroyed_key_is_gone_from_the_store(
    profiles: UserProfiles, settings: Settings
) -> None:
    user_id = jane(profiles)
    record = profiles.keys.record(user_aggregate_id(user_id))
    assert record is not None
    assert record.key is not None
    assert record.key in stored_bytes(settings)
    profiles.delete_user(user_id, ACTOR, erase=True)
    assert record.key not in stored_bytes(settings)


def test_deletion_without_erasure_keeps_the_personal_data_readable(
    profiles: UserProfiles,
) -> None:
    user_id = jane(profiles)
    profiles.delete_user(user_id, ACTOR, erase=False)
    history = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 100).entries
    assert not any(entry.erased for entry in history)
    assert history[-1].patch is not None
    assert history[-1].patch["given_name"] == "Janeseventeen"


def test_a_user_deleted_earlier_can_be_erased_later(
    profiles: UserProfiles, settings: Settings
) -> None:
    user_id = jane(profiles)
    profiles.delete_user(user_id, ACTOR)
    profiles.delete_user(user_id, ACTOR, erase=True)
    assert found(settings) == []
    newest = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 1).entries[0]
    assert (newest.event, newest.erased) == ("UserDeleted", True)


def test_erasing_an_erased_user_again_records_nothing(profiles: UserProfiles) -> None:
    user_id = create(profiles, PROFILE)
    first = profiles.delete_user(user_id, ACTOR, erase=True)
    assert first is not None
    assert profiles.delete_user(user_id, ACTOR, erase=True) is None


def test_history_keeps_versions_times_and_actors_with_payloads_erased(
    profiles: UserProfiles,
) -> None:
    user_id = create(profiles, PROFILE, user_metadata={"hobby": "falconry-secret"})
    patch(profiles, user_id, user_metadata={"hobby": "kitesurfing"})
    before = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 10).entries
    profiles.delete_user(user_id, ACTOR, erase=True)
    after = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 10).entries
    assert [entry.version for entry in after] == [3, 2, 1]
    assert [(e.version, e.event, e.timestamp, e.actor) for e in after[1:]] == [
        (e.version, e.event, e.timestamp, e.actor) for e in before
    ]
    assert all(entry.erased and entry.patch is None for entry in after)


def test_an_erased_users_email_can_be_taken_by_a_new_user(profiles: UserProfiles) -> None:
    user_id = create(profiles, {"email": EMAIL})
    profiles.delete_user(user_id, ACTOR, erase=True)
    newcomer = create(profiles, {"email": EMAIL})
    assert [user.user_id for user in profiles.users_by_email(EMAIL)] == [newcomer]


def test_erasure_leaves_other_users_untouched(profiles: UserProfiles, settings: Settings) -> None:
    other = create(profiles, {"email": "other@example.com"}, user_metadata={"tea": "oolong"})
    patch(profiles, other, app_metadata={"plan": "team"})
    before = profiles.get_user(other).as_auth0()
    profiles.delete_user(jane(profiles), ACTOR, erase=True)
    assert profiles.get_user(other).as_auth0() == before
    assert b"other@example.com" in stored_bytes(settings)
    assert not any(
        e.erased for e in UserHistory(profiles).page(other, HistoryFilter(), 0, 9).entries
    )


def test_an_erased_user_replays_into_a_deleted_user_without_data(profiles: UserProfiles) -> None:
    user_id = jane(profiles)
    profiles.delete_user(user_id, ACTOR, erase=True)
    replayed: object = profiles.repository.get(user_aggregate_id(user_id))
    assert isinstance(replayed, User)
    assert replayed.deleted
    assert (replayed.profile, replayed.user_metadata, replayed.app_metadata) == ({}, {}, {})
    with pytest.raises(UserNotFound):
        profiles.get_user(user_id)


def test_a_rebuild_from_the_whole_log_reproduces_every_live_user(profiles: UserProfiles) -> None:
    kept = [
        create(profiles, {"email": f"kept{n}@example.com"}, user_metadata={"n": n})
        for n in range(3)
    ]
    patch(profiles, kept[0], app_metadata={"plan": "pro"})
    erased = jane(profiles)
    profiles.delete_user(erased, ACTOR, erase=True)
    rebuilt: dict[Any, Any] = {}
    erased_events = 0
    for notification in profiles.recorder.select_notifications(1, 10_000):
        event = profiles.mapper.to_domain_event(notification)
        erased_events += is_erased(event)
        assert isinstance(event, Aggregate.Event)
        rebuilt[event.originator_id] = event.mutate(rebuilt.get(event.originator_id))
    assert erased_events == 59
    for user_id in kept:
        assert (
            rebuilt[user_aggregate_id(user_id)].as_auth0() == profiles.get_user(user_id).as_auth0()
        )
    assert rebuilt[user_aggregate_id(erased)].deleted
