"""The contract of the audit read model (`AuditStore`), on SQLite and PostgreSQL.

Events reach it as in the service: written through the application's commands, then projected
by the `AuditProjector`. Each change a command makes is one change row, each event one Auth0
log record; the rows and the position are written in one transaction, exactly once; a rebuild
writes what the live projector wrote; records written directly by the API survive a rebuild and
expire with the retention period.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from metaledger.api import stores
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from metaledger.domain.storage import StoreLocation
from metaledger.projections.audit.projector import AuditProjector, rebuild
from metaledger.projections.audit.records import FAILED_LOGIN, LogRecord, new_log_id
from metaledger.projections.audit.store import (
    AuditBatch,
    AuditStore,
    ChangeQuery,
    Cursor,
    LogQuery,
)
from metaledger.projections.batches import decoded

ADMIN = Actor(kind="client", id="admin-console", grant="client-credentials", ip="10.0.0.1")
SUPPORT = Actor(kind="client", id="support-tool", grant="client-credentials", ip="10.0.0.2")


def create(profiles: UserProfiles, email: str, **app_metadata: Any) -> str:
    new = NewUser(
        connection=DEFAULT_CONNECTION, profile={"email": email}, app_metadata=app_metadata
    )
    return profiles.create_user(new, ADMIN).user.user_id


def grant(profiles: UserProfiles, user_id: str, actor: Actor, **app_metadata: Any) -> None:
    profiles.update_user(user_id, UserUpdate(buckets={"app_metadata": app_metadata}), actor)


def logs(store: AuditStore, q: str | None = None, **query: Any) -> list[LogRecord]:
    translator = store.translator
    return store.logs(LogQuery(translator.predicate(q), **query)).records


def direct_record(moment: datetime, ip: str) -> LogRecord:
    return LogRecord(
        log_id=new_log_id(moment),
        date=moment.isoformat(),
        type=FAILED_LOGIN,
        user_name="nobody@example.com",
        ip=ip,
    )


def snapshot(store: AuditStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = [r.as_auth0() for r in logs(store, limit=1000)]
    changes = [c.as_dict() for c in store.changes(ChangeQuery(take=1000)).changes]
    return records, changes


@pytest.fixture
def store(location: StoreLocation) -> Iterator[AuditStore]:
    opened = stores.audit_store(location)
    yield opened
    opened.close()


@pytest.fixture
def projector(profiles: UserProfiles, store: AuditStore) -> AuditProjector:
    return AuditProjector(profiles, store)


class AuditStoreContract:
    """What either backend's audit read model must do. Subclasses set `backend`."""

    def test_a_new_read_model_has_no_position(self, store: AuditStore) -> None:
        assert store.position() is None

    def test_projecting_records_the_last_events_position(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        create(profiles, "ada@example.com")

        projector.catch_up()

        assert store.position() == profiles.recorder.max_notification_id()

    def test_a_batch_at_the_recorded_position_is_refused_and_writes_nothing(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        create(profiles, "ada@example.com")
        batch = projector.fold(decoded(profiles, profiles.recorder.select_notifications(0, 10)))
        store.apply(AuditBatch(position=batch.position))

        with pytest.raises(IntegrityError):
            store.apply(batch)

        assert logs(store) == []

    def test_each_changed_key_is_one_change_row_with_old_and_new_value(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com", plan="free")
        grant(profiles, user_id, SUPPORT, plan="pro", roles=["admin"])
        projector.catch_up()

        page = store.changes(ChangeQuery(key="app_metadata", take=10))

        assert [(c.key, c.old, c.new, c.actor_id, c.version) for c in page.changes] == [
            ("app_metadata.roles", None, ["admin"], "support-tool", 2),
            ("app_metadata.plan", "free", "pro", "support-tool", 2),
            ("app_metadata.plan", None, "free", "admin-console", 1),
        ]

    def test_to_finds_the_changes_that_added_a_value_to_an_array(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        ada = create(profiles, "ada@example.com", roles=["viewer"])
        grace = create(profiles, "grace@example.com")
        grant(profiles, ada, SUPPORT, roles=["viewer", "admin"])
        grant(profiles, grace, ADMIN, roles=["admin"])
        grant(profiles, ada, ADMIN, roles=["admin"])  # admin kept, viewer removed
        projector.catch_up()

        granted = store.changes(ChangeQuery(key="app_metadata.roles", to="admin", take=10))
        revoked = store.changes(ChangeQuery(key="app_metadata.roles", from_="viewer", take=10))

        assert [(c.user_id, c.actor_id) for c in granted.changes] == [
            (grace, "admin-console"),
            (ada, "support-tool"),
        ]
        assert [(c.user_id, c.version) for c in revoked.changes] == [(ada, 3)]

    def test_changes_filter_by_actor_and_client(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com")
        grant(profiles, user_id, SUPPORT, plan="pro")
        projector.catch_up()

        by_actor = store.changes(ChangeQuery(actor_kind="client", actor_id="support-tool"))
        by_client = store.changes(ChangeQuery(client_id="admin-console"))

        assert [c.key for c in by_actor.changes] == ["app_metadata.plan"]
        assert "app_metadata.plan" not in {c.key for c in by_client.changes}
        assert "email" in {c.key for c in by_client.changes}

    def test_checkpoints_page_through_every_change_once_newest_first(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com")
        for number in range(7):
            grant(profiles, user_id, SUPPORT, counter=number)
        projector.catch_up()
        seen: list[Any] = []
        page = store.changes(ChangeQuery(key="app_metadata.counter", take=3))
        seen += [c.new for c in page.changes]
        while page.next is not None:
            page = store.changes(
                ChangeQuery(key="app_metadata.counter", take=3, after=Cursor.parse(page.next))
            )
            seen += [c.new for c in page.changes]

        assert seen == [6, 5, 4, 3, 2, 1, 0]

    def test_changes_in_a_time_range(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com")
        grant(profiles, user_id, SUPPORT, plan="pro")
        projector.catch_up()
        latest = store.changes(ChangeQuery(take=1)).changes[0]

        since = store.changes(ChangeQuery(since=latest.at))
        until = store.changes(ChangeQuery(until=latest.at))

        assert [c.key for c in since.changes] == ["app_metadata.plan"]
        assert "email" in {c.key for c in until.changes}
        assert "app_metadata.plan" not in {c.key for c in until.changes}

    def test_each_event_is_one_log_record_with_its_type_code(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com")
        grant(profiles, user_id, SUPPORT, plan="pro")
        profiles.delete_user(user_id, ADMIN)
        projector.catch_up()

        records = logs(store, sort=("date", False))

        assert [(r.type, r.user_id, r.user_name, r.client_id) for r in records] == [
            ("sapi", user_id, "ada@example.com", "admin-console"),
            ("sapi", user_id, "ada@example.com", "support-tool"),
            ("sdu", user_id, "ada@example.com", "admin-console"),
        ]
        assert records[1].details["changes"] == {"app_metadata.plan": {"old": None, "new": "pro"}}

    def test_a_log_record_reads_back_by_its_id(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        create(profiles, "ada@example.com")
        projector.catch_up()
        [record] = logs(store)

        assert (store.log(record.log_id), store.log("0" * 37)) == (record, None)

    def test_log_queries_use_lucene_over_the_log_fields(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        ada = create(profiles, "ada@example.com")
        create(profiles, "grace@example.com")
        grant(profiles, ada, SUPPORT, plan="pro")
        projector.catch_up()

        assert len(logs(store, 'type:sapi AND client_id:"support-tool"')) == 1
        assert len(logs(store, "user_name:*@example.com AND NOT client_id:support-tool")) == 2
        assert len(logs(store, "details.actor.id:support-tool")) == 1
        assert len(logs(store, "details.event:UserCreated")) == 2
        assert len(logs(store, f"date:[2000-01-01 TO {datetime.now(UTC).year + 1}]")) == 3
        assert len(logs(store, "_exists_:details.changes")) == 3

    def test_log_ids_sort_in_time_for_checkpoint_paging(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com")
        for number in range(4):
            grant(profiles, user_id, SUPPORT, counter=number)
        projector.catch_up()
        seen: list[int] = []
        after = ""
        while page := logs(store, limit=2, after=after):
            seen += [r.version or 0 for r in page]
            after = page[-1].log_id

        assert seen == [1, 2, 3, 4, 5]

    def test_totals_count_every_match(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        for name in ("ada", "grace", "linus"):
            create(profiles, f"{name}@example.com")
        projector.catch_up()
        translator = store.translator

        page = store.logs(LogQuery(translator.predicate("type:sapi"), limit=1, count_total=True))

        assert (len(page.records), page.total) == (1, 3)

    def test_a_rebuild_writes_what_the_live_projector_wrote(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        ada = create(profiles, "ada@example.com", roles=["viewer"])
        grace = create(profiles, "grace@example.com")
        grant(profiles, ada, SUPPORT, roles=["viewer", "admin"])
        profiles.record_login(ada, "192.0.2.9", "spa-app", Actor(kind="user", id=ada))
        profiles.update_user(grace, UserUpdate(profile={"email": "g@example.com"}), ADMIN)
        profiles.record_login(grace, "192.0.2.10", "spa-app", Actor(kind="user", id=grace))
        profiles.delete_user(grace, ADMIN, erase=True)
        projector.catch_up()
        live = snapshot(store)

        rebuild(profiles, store)

        assert snapshot(store) == live
        assert store.position() == profiles.recorder.max_notification_id()

    def test_an_erasure_drops_the_users_changes_and_names_but_keeps_their_records(
        self, profiles: UserProfiles, projector: AuditProjector, store: AuditStore
    ) -> None:
        user_id = create(profiles, "ada@example.com", plan="gold")
        grant(profiles, user_id, SUPPORT, plan="platinum")
        projector.catch_up()

        profiles.delete_user(user_id, ADMIN, erase=True)
        projector.catch_up()

        records = logs(store, sort=("date", False))
        assert [(r.type, r.user_id, r.user_name, r.client_id) for r in records] == [
            ("sapi", user_id, None, "admin-console"),
            ("sapi", user_id, None, "support-tool"),
            ("sdu", user_id, None, "admin-console"),
        ]
        assert all("changes" not in r.details for r in records)
        assert store.changes(ChangeQuery(user_id=user_id)).changes == []

    def test_records_written_directly_survive_a_rebuild_and_expire(
        self, profiles: UserProfiles, store: AuditStore
    ) -> None:
        now = datetime.now(UTC)
        store.record([direct_record(now - timedelta(days=40), "192.0.2.1")])
        store.record([direct_record(now, "192.0.2.2")])
        rebuild(profiles, store)

        pruned = AuditProjector(profiles, store, retention=timedelta(days=30))
        pruned.tend()

        assert [r.ip for r in logs(store, "type:f")] == ["192.0.2.2"]


class TestOnSQLite(AuditStoreContract):
    backend = "sqlite"


class TestOnPostgres(AuditStoreContract):
    backend = "postgres"
