"""The contract of the search read model (`SearchStore`), on SQLite and PostgreSQL.

The store keeps the projected users and the position of the last event applied, written by one
transaction per batch; a batch at a position it already passed is refused whole. Users reach it
as they do in the service: written through the application's commands, then projected by the
`Projector`. The query language and the projector's folding have suites of their own
(tests/integration/search); this one pins what either backend's store must do.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from metaledger.api import stores
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from metaledger.domain.storage import StoreLocation
from metaledger.domain.user import User
from metaledger.projections.batches import decoded
from metaledger.projections.search.projector import Projector
from metaledger.projections.search.store import Batch, SearchRequest, SearchStore, SkippedEvent

ACTOR = Actor(kind="client", id="contract-tests", grant="client-credentials")


def create(profiles: UserProfiles, email: str, app_metadata: dict[str, Any] | None = None) -> User:
    new = NewUser(
        connection=DEFAULT_CONNECTION, profile={"email": email}, app_metadata=app_metadata or {}
    )
    return profiles.create_user(new, ACTOR).user


def project_all(projector: Projector) -> None:
    """Applies every event recorded so far, batch by batch."""
    while projector.project_batch():
        pass


def pending_batch(profiles: UserProfiles, projector: Projector) -> Batch:
    """The batch of every event recorded so far, folded but not applied."""
    notifications = profiles.recorder.select_notifications(0, 100, inclusive_of_start=False)
    return projector.fold(decoded(profiles, notifications))


def found(store: SearchStore, q: str | None, **request: Any) -> list[str]:
    """The ids of the users a query finds, in the store's order."""
    result = store.search(SearchRequest(store.translator.translate(q), **request))
    return [f.user().user_id for f in result.users]


@pytest.fixture
def store(location: StoreLocation) -> Iterator[SearchStore]:
    opened = stores.search_store(location)
    yield opened
    opened.close()


@pytest.fixture
def another_store(location: StoreLocation, store: SearchStore) -> Iterator[SearchStore]:
    """A second store on the same location, as another process opens it."""
    opened = stores.search_store(location)
    yield opened
    opened.close()


@pytest.fixture
def projector(profiles: UserProfiles, store: SearchStore) -> Projector:
    return Projector(profiles, store)


class SearchStoreContract:
    """What either backend's read model must do. Subclasses set `backend`."""

    # Found users

    def test_a_found_users_document_is_what_get_by_id_returns(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        user = create(profiles, "doc@example.com", {"plan": "pro", "roles": ["admin"]})
        profiles.update_user(
            user.user_id,
            UserUpdate(profile={"name": "Ada"}, buckets={"user_metadata": {"hobby": "chess"}}),
            ACTOR,
        )
        project_all(projector)

        (hit,) = store.search(SearchRequest(store.translator.translate("name:Ada"))).users

        assert hit.document() == profiles.get_user(user.user_id).as_auth0()
        assert hit.user().as_auth0() == hit.document()

    # Position

    def test_a_new_read_model_has_no_position(self, store: SearchStore) -> None:
        assert store.position() is None

    def test_an_applied_batch_records_its_position(self, store: SearchStore) -> None:
        store.apply(Batch(position=7))

        assert store.position() == 7

    def test_a_later_batch_moves_the_position_on(self, store: SearchStore) -> None:
        store.apply(Batch(position=3))

        store.apply(Batch(position=7))

        assert store.position() == 7

    def test_a_batch_at_the_recorded_position_is_refused_and_writes_nothing(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        user = create(profiles, "ada@example.com")
        batch = pending_batch(profiles, projector)
        batch.skipped.append(SkippedEvent(batch.position, "some.topic", "a reason"))
        store.apply(Batch(position=batch.position))

        with pytest.raises(IntegrityError):
            store.apply(batch)

        assert (store.load([user.id]), store.skipped_events(), store.position()) == (
            {},
            [],
            batch.position,
        )

    def test_a_batch_before_the_recorded_position_is_refused_and_writes_nothing(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        user = create(profiles, "ada@example.com")
        batch = pending_batch(profiles, projector)
        batch.skipped.append(SkippedEvent(batch.position, "some.topic", "a reason"))
        store.apply(Batch(position=batch.position + 10))

        with pytest.raises(IntegrityError):
            store.apply(batch)

        assert (store.load([user.id]), store.skipped_events(), store.position()) == (
            {},
            [],
            batch.position + 10,
        )

    def test_projecting_the_log_records_the_last_events_position(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        create(profiles, "ada@example.com")
        create(profiles, "grace@example.com")

        project_all(projector)

        assert store.position() == profiles.recorder.max_notification_id()

    # Skipped events

    def test_a_new_read_model_has_no_skipped_events(self, store: SearchStore) -> None:
        assert store.skipped_events() == []

    def test_skipped_events_are_kept_in_log_order(self, store: SearchStore) -> None:
        later = SkippedEvent(5, "domain.user:User.Unknown", "unreadable")
        earlier = SkippedEvent(2, "domain.user:User.UserDeleted", "no such user in the read model")

        store.apply(Batch(position=5, skipped=[later, earlier]))

        assert store.skipped_events() == [earlier, later]

    # Users

    def test_projected_users_load_by_aggregate_id(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        ada = create(profiles, "ada@example.com")
        grace = create(profiles, "grace@example.com")
        project_all(projector)

        loaded = store.load([ada.id, grace.id, uuid4()])

        assert {
            aggregate_id: stored.restore(aggregate_id).user_id
            for aggregate_id, stored in loaded.items()
        } == {ada.id: ada.user_id, grace.id: grace.user_id}

    def test_a_loaded_user_restores_to_the_event_stores_user_at_its_version(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        user = create(profiles, "ada@example.com", app_metadata={"plan": "free"})
        profiles.update_user(
            user.user_id, UserUpdate(buckets={"app_metadata": {"plan": "pro"}}), ACTOR
        )
        project_all(projector)

        stored = store.load([user.id])[user.id]

        assert (stored.version, stored.restore(user.id).as_auth0()) == (
            2,
            profiles.get_user(user.user_id).as_auth0(),
        )

    def test_users_changed_in_one_batch_each_keep_their_own_values(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        ada = create(profiles, "ada@example.com", app_metadata={"plan": "free", "seats": 1})
        grace = create(profiles, "grace@example.com", app_metadata={"plan": "free"})
        alan = create(profiles, "alan@example.com", app_metadata={"plan": "free"})
        project_all(projector)
        updates = [
            (ada, UserUpdate(buckets={"app_metadata": {"plan": "pro", "seats": None}})),
            (grace, UserUpdate(profile={"name": "Grace", "blocked": True})),
            (alan, UserUpdate(profile={"email_verified": True}, buckets={"app_metadata": None})),
        ]
        for user, update in updates:
            profiles.update_user(user.user_id, update, ACTOR)
        project_all(projector)  # one batch: every user's row and entries at once

        users = [user for user, _ in updates]
        loaded = store.load([user.id for user in users])
        assert {user.user_id: loaded[user.id].restore(user.id).as_auth0() for user in users} == {
            user.user_id: profiles.get_user(user.user_id).as_auth0() for user in users
        }
        assert [
            found(store, q)
            for q in ("app_metadata.plan:pro", "app_metadata.plan:free", "blocked:true")
        ] == [[ada.user_id], [grace.user_id], [grace.user_id]]
        assert found(store, "app_metadata.seats:1") == []
        assert found(store, "email_verified:true") == [alan.user_id]

    def test_a_deleted_user_is_no_longer_stored(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        user = create(profiles, "ada@example.com")
        project_all(projector)

        profiles.delete_user(user.user_id, ACTOR)
        project_all(projector)

        assert (store.load([user.id]), found(store, "email:ada@example.com")) == ({}, [])

    # Searches

    def test_a_search_finds_a_projected_user(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        ada = create(profiles, "ada@example.com")
        create(profiles, "grace@example.com")
        project_all(projector)

        assert found(store, "email:ada@example.com") == [ada.user_id]

    def test_a_search_counts_every_user_it_matches_beyond_the_page(
        self, profiles: UserProfiles, store: SearchStore, projector: Projector
    ) -> None:
        for n, plan in enumerate(["pro", "free", "pro"]):
            create(profiles, f"user{n}@example.com", app_metadata={"plan": plan})
        project_all(projector)

        request = SearchRequest(
            store.translator.translate("app_metadata.plan:pro"), limit=1, count_total=True
        )

        assert store.search(request).total == 2

    def test_another_store_on_the_same_location_reads_what_one_projected(
        self,
        profiles: UserProfiles,
        store: SearchStore,
        projector: Projector,
        another_store: SearchStore,
    ) -> None:
        ada = create(profiles, "ada@example.com")
        project_all(projector)

        assert (another_store.position(), found(another_store, "email:ada@example.com")) == (
            store.position(),
            [ada.user_id],
        )


class TestOnSQLite(SearchStoreContract):
    backend = "sqlite"


class TestOnPostgres(SearchStoreContract):
    backend = "postgres"
