"""The read model's contract, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.documents import user_row
from metaledger.projections.search.projector import Projector
from metaledger.projections.search.store import Batch, SearchRequest, SearchStore, Sort, wait_for
from tests.integration.search.conftest import ACTOR, create, documents, found, patch


def test_a_projected_user_is_the_user_get_returns(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(
        profiles,
        "jane",
        {"email": "Jane@Example.com", "name": "Jane", "password_hash": "not-a-real-hash"},
        user_metadata={"addresses": [{"city": "Paris"}]},
        app_metadata={"plan": "free"},
    )
    patch(profiles, user_id, app_metadata={"plan": "pro", "roles": ["admin"]})
    profiles.record_login(user_id, "198.51.100.1", "app", ACTOR)
    projector.catch_up()
    assert documents(store)[user_id] == profiles.get_user(user_id).as_auth0()


def test_the_position_is_the_last_event_applied(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "one")
    create(profiles, "two")
    projector.catch_up()
    assert store.position() == profiles.recorder.max_notification_id()


def test_a_metadata_patch_replaces_the_values_it_changed(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "jane", app_metadata={"plan": "free", "roles": ["viewer"]})
    projector.catch_up()
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    projector.catch_up()
    assert (found(store, "app_metadata.plan:free"), found(store, "app_metadata.plan:pro")) == (
        set(),
        {user_id},
    )


def test_an_emptied_bucket_leaves_nothing_to_find(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "jane", user_metadata={"hobby": "surfing"})
    projector.catch_up()
    patch(profiles, user_id, user_metadata={})
    projector.catch_up()
    assert found(store, "_exists_:user_metadata") == set()


def test_a_deleted_user_is_removed(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    keep = create(profiles, "keep", app_metadata={"plan": "pro"})
    gone = create(profiles, "gone", app_metadata={"plan": "pro"})
    projector.catch_up()
    profiles.delete_user(gone, ACTOR)
    projector.catch_up()
    assert found(store, "app_metadata.plan:pro") == {keep}


def test_a_user_created_and_deleted_in_one_batch_never_appears(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "brief")
    profiles.delete_user(user_id, ACTOR)
    projector.catch_up()
    assert found(store, "*") == set()


def test_an_erased_user_is_removed(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "erased", {"email": "erased@example.com"})
    projector.catch_up()
    profiles.delete_user(user_id, ACTOR, erase=True)
    projector.catch_up()
    assert found(store, "email:erased@example.com") == set()


def test_a_login_updates_logins_count_and_last_login(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "jane")
    projector.catch_up()
    profiles.record_login(user_id, "198.51.100.1", "app", ACTOR)
    projector.catch_up()
    assert found(store, "logins_count:1 AND _exists_:last_login") == {user_id}


def test_an_event_of_an_unknown_type_is_skipped_and_tracked(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "before")
    profiles.recorder.insert_events(
        [StoredEvent(uuid4(), 1, "domain.user:User.SomethingNew", b"{}")]
    )
    after = create(profiles, "after")
    projector.catch_up()
    skipped = store.skipped_events()
    assert (
        [(s.notification_id, s.topic) for s in skipped],
        store.position(),
        after in found(store, "*"),
    ) == ([(2, "domain.user:User.SomethingNew")], 3, True)


def test_a_value_with_a_nul_character_is_kept_but_not_indexed(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    user_id = create(profiles, "nul", user_metadata={"tag": "x"})
    # Written past the command's rules, which now refuse NUL: as events stored before them.
    user = profiles.get_user(user_id)
    user.patch_user_metadata({"note": "a\x00b"}, ACTOR.as_dict())
    profiles.save(user)
    projector.catch_up()
    assert (found(store, "user_metadata.tag:x"), documents(store)[user_id]["user_metadata"]) == (
        {user_id},
        {"note": "a\x00b", "tag": "x"},
    )


def test_a_value_over_the_index_cap_is_kept_but_not_indexed(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    long = "x" * 2000
    create(profiles, "long", user_metadata={"essay": long})
    projector.catch_up()
    assert found(store, f"user_metadata.essay:{long}") == set()


def test_a_batch_at_a_recorded_position_is_refused_and_writes_nothing(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "first")
    projector.catch_up()
    second = profiles.get_user(create(profiles, "second"))
    with pytest.raises(IntegrityError):
        store.apply(Batch(position=1, upserts=[user_row(2, second, None)]))
    assert found(store, "*") == {"auth0|first"}


def test_a_batch_failing_half_way_leaves_no_trace(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    first = profiles.get_user(create(profiles, "first"))
    # The second row claims the first's aggregate under another key: the write fails after
    # the first row went in, and the transaction takes both back with the position.
    with pytest.raises(IntegrityError):
        store.apply(Batch(position=1, upserts=[user_row(1, first, None), user_row(2, first, None)]))
    assert (store.position(), found(store, "*")) == (None, set())


def test_a_replacement_takes_over_with_its_position(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "old")
    projector.catch_up()
    new = profiles.get_user(create(profiles, "new"))
    with store.replacing(7) as write:
        write(Batch(position=0, upserts=[user_row(2, new, None)]))
    assert (found(store, "*"), store.position()) == ({"auth0|new"}, 7)


def test_a_failed_replacement_leaves_the_read_model_as_it_was(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "old")
    projector.catch_up()
    new = profiles.get_user(create(profiles, "new"))

    def replace_and_die() -> None:
        with store.replacing(7) as write:
            write(Batch(position=0, upserts=[user_row(2, new, None)]))
            raise RuntimeError("the rebuild died")

    with pytest.raises(RuntimeError):
        replace_and_die()
    assert (found(store, "*"), store.position()) == ({"auth0|old"}, 1)


def test_wait_for_returns_once_the_position_is_reached(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "jane")
    projector.catch_up()
    assert wait_for(store, 1, timeout=1.0) is True


def test_wait_for_gives_up_after_its_timeout(store: SearchStore) -> None:
    assert wait_for(store, 1, timeout=0.05) is False


def test_users_come_in_creation_order_by_default(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    for name in ("c", "a", "b"):
        create(profiles, name)
    projector.catch_up()
    result = store.search(SearchRequest(store.translator.translate(None)))
    assert [f.user().user_id for f in result.users] == ["auth0|c", "auth0|a", "auth0|b"]


def test_a_missing_value_sorts_before_every_value(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "b", {"username": "bee"})
    create(profiles, "none")
    create(profiles, "a", {"username": "ant"})
    projector.catch_up()
    everyone = store.translator.translate(None)
    orders = [
        [f.user().user_id for f in store.search(SearchRequest(everyone, sort)).users]
        for sort in (Sort("username", False, True), Sort("username", True, True))
    ]
    assert orders == [
        ["auth0|none", "auth0|a", "auth0|b"],
        ["auth0|b", "auth0|a", "auth0|none"],
    ]


def test_a_page_comes_with_the_total_of_its_search(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    for name in ("a", "b", "c"):
        create(profiles, name, app_metadata={"plan": "pro"})
    projector.catch_up()
    result = store.search(
        SearchRequest(
            store.translator.translate("app_metadata.plan:pro"), limit=1, offset=1, count_total=True
        )
    )
    assert ([f.user().user_id for f in result.users], result.total) == (["auth0|b"], 3)


def test_a_checkpoint_returns_the_users_after_it(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    for name in ("a", "b", "c"):
        create(profiles, name)
    projector.catch_up()
    first = store.search(SearchRequest(store.translator.translate(None), limit=1)).users[0]
    after = store.search(SearchRequest(store.translator.translate(None), after_key=first.key))
    assert [f.user().user_id for f in after.users] == ["auth0|b", "auth0|c"]


def test_the_total_of_everyone_follows_creations_and_deletions(
    profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    for name in ("a", "b", "c"):
        create(profiles, name)
    profiles.delete_user("auth0|b", ACTOR)
    projector.catch_up()
    everyone = SearchRequest(store.translator.translate(None), limit=0, count_total=True)
    assert store.search(everyone).total == 2
