"""The shredding mapper: personal fields sealed under the user's key, the rest in the clear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from metaledger.domain.actor import Actor
from metaledger.domain.erasure import is_erased
from metaledger.domain.ports import KeyRecord, as_uuid
from metaledger.domain.storage.shredding import (
    KeyRing,
    SealedStoredEvent,
    ShreddingMapper,
    UserKeyMissingError,
)
from metaledger.domain.storage.transcoder import OrjsonTranscoder
from metaledger.domain.user import User

ACTOR = Actor(kind="client", id="client-1", grant="client-credentials", request_id="req-1")
EMAIL = "jane.personal@example.com"


class KeyTable:
    """The key table as a dict: what the recorder would write beside the events."""

    def __init__(self) -> None:
        self.rows: dict[UUID, KeyRecord] = {}
        self.loads = 0

    def load(self, ids: Sequence[UUID]) -> dict[UUID, KeyRecord]:
        self.loads += 1
        return {id_: self.rows[id_] for id_ in ids if id_ in self.rows}

    def record(self, stored: Sequence[SealedStoredEvent]) -> None:
        for event in stored:
            if event.new_key is not None:
                self.rows[event.new_key.aggregate_id] = KeyRecord(
                    event.new_key.user_id, event.new_key.key
                )
            if event.destroys_key:
                aggregate_id = as_uuid(event.originator_id)
                self.rows[aggregate_id] = KeyRecord(self.rows[aggregate_id].user_id, None)


@pytest.fixture
def table() -> KeyTable:
    return KeyTable()


@pytest.fixture
def mapper(table: KeyTable) -> ShreddingMapper:
    return ShreddingMapper(OrjsonTranscoder(), KeyRing(table.load, ttl_seconds=0))


def new_user() -> User:
    return User(
        user_id="auth0|0123456789abcdef01234567",
        connection="Username-Password-Authentication",
        profile={"email": EMAIL, "given_name": "Janeprivate"},
        user_metadata={"hobby": "freediving"},
        app_metadata={"plan": "enterprise-gold"},
        actor=ACTOR.as_dict(),
    )


def store(mapper: ShreddingMapper, table: KeyTable, user: User) -> list[SealedStoredEvent]:
    """What a save stores: the user's new events, mapped as one batch."""
    with mapper.batch():
        stored = [mapper.to_stored_event(event) for event in user.collect_events()]
    table.record(stored)
    return stored


def erase(mapper: ShreddingMapper, table: KeyTable, user: User) -> list[SealedStoredEvent]:
    user.delete(ACTOR.as_dict(), erase=True)
    return store(mapper, table, user)


def test_a_sealed_event_decodes_to_what_was_stored(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    (created,) = user.pending_events
    expected = dict(vars(created))
    (stored,) = store(mapper, table, user)
    assert vars(mapper.to_domain_event(stored)) == expected


def test_no_personal_value_is_stored_in_the_clear(mapper: ShreddingMapper, table: KeyTable) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    for stored in store(mapper, table, user):
        for secret in (EMAIL, "Janeprivate", "freediving", "kitesurfing", "enterprise-gold"):
            assert secret.encode() not in stored.state


def test_the_actor_user_id_and_time_stay_in_the_clear(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    (stored,) = store(mapper, table, new_user())
    assert b"auth0|0123456789abcdef01234567" in stored.state
    assert b"req-1" in stored.state
    assert stored.recorded_at.tzinfo is not None


def test_the_first_event_brings_the_users_new_key(mapper: ShreddingMapper, table: KeyTable) -> None:
    user = new_user()
    user.patch_app_metadata({"plan": "free"}, ACTOR.as_dict())
    created, patched = store(mapper, table, user)
    assert created.new_key is not None
    assert created.new_key.user_id == "auth0|0123456789abcdef01234567"
    assert patched.new_key is None


def test_events_of_an_erased_user_decode_as_erased_with_blank_payloads(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    created, patched = store(mapper, table, user)
    erase(mapper, table, user)
    erased_created = mapper.to_domain_event(created)
    erased_patch = mapper.to_domain_event(patched)
    assert is_erased(erased_created)
    assert vars(erased_created)["profile"] == {}
    assert vars(erased_created)["user_id"] == "auth0|0123456789abcdef01234567"
    assert vars(erased_patch)["patch"] == {}
    assert vars(erased_patch)["changes"] == {}
    assert vars(erased_patch)["actor"] == ACTOR.as_dict()
    assert erased_patch.originator_version == 2


def test_user_deleted_is_stored_in_the_clear_and_destroys_the_key(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    store(mapper, table, user)
    (deleted,) = erase(mapper, table, user)
    assert deleted.destroys_key
    assert deleted.state.startswith(b"{")
    event = mapper.to_domain_event(deleted)
    assert vars(event)["erased"] is True
    assert vars(event)["user_id"] == "auth0|0123456789abcdef01234567"


def test_a_deletion_without_erasure_keeps_the_key(mapper: ShreddingMapper, table: KeyTable) -> None:
    user = new_user()
    (created,) = store(mapper, table, user)
    user.delete(ACTOR.as_dict())
    (deleted,) = store(mapper, table, user)
    assert not deleted.destroys_key
    assert not is_erased(mapper.to_domain_event(created))


def test_an_erased_users_events_still_fold_into_a_deleted_user(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    stored = store(mapper, table, user) + erase(mapper, table, user)
    folded: Any = None
    for event in (mapper.to_domain_event(s) for s in stored):
        folded = cast(User.Event, event).mutate(folded)
    assert folded.deleted
    assert folded.user_metadata == {}
    assert folded.user_id == "auth0|0123456789abcdef01234567"


def test_a_snapshot_of_an_erased_user_restores_a_blank_deleted_user(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    store(mapper, table, user)
    user.delete(ACTOR.as_dict())
    store(mapper, table, user)
    snapshot = mapper.to_stored_event(Snapshot.take(user))
    assert EMAIL.encode() not in snapshot.state
    erase(mapper, table, user)
    restored = cast(Snapshot, mapper.to_domain_event(snapshot)).mutate(None)
    assert isinstance(restored, User)
    assert restored.deleted
    assert restored.profile == {}
    assert restored.version == 2


def test_a_payload_moved_to_another_version_does_not_decrypt(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    _, patched = store(mapper, table, user)
    moved = StoredEvent(patched.originator_id, 3, patched.topic, patched.state)
    with pytest.raises(MapperDeserialisationError):
        mapper.to_domain_event(moved)


def test_events_saved_with_the_creation_are_sealed_with_the_new_key(
    mapper: ShreddingMapper, table: KeyTable
) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    with mapper.batch():
        stored = [mapper.to_stored_event(event) for event in user.collect_events()]
    table.record(stored)
    patched = mapper.to_domain_event(stored[1])
    assert vars(patched)["patch"] == {"hobby": "kitesurfing"}


def test_outside_a_batch_an_event_of_a_user_without_a_key_is_refused(
    mapper: ShreddingMapper,
) -> None:
    user = new_user()
    user.patch_user_metadata({"hobby": "kitesurfing"}, ACTOR.as_dict())
    created, patched = user.collect_events()
    mapper.to_stored_event(created)
    with pytest.raises(UserKeyMissingError):
        mapper.to_stored_event(patched)
