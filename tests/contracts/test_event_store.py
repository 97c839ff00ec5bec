"""The contract of the tables the event store keeps beside the events, on SQLite and PostgreSQL.

The domain reaches them through its ports (`metaledger.domain.ports.TablesBesideEvents`): the
email index, the users' keys, the time index and the bulk event rows, each reached through
`UserProfiles`. They are written by the application's own commands, in the events'
transaction, so every test writes through the commands and asserts on the port. Other
components run statements on tables of their own in the same database (`SqlTables`), as the
login throttle's failure store does.

Each contract is written once; `TestOnSQLite` and `TestOnPostgres` run all of them on one
backend each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from metaledger.api import stores
from metaledger.api.auth.failure_store import Failure, SqlTables
from metaledger.domain.actor import Actor
from metaledger.domain.errors import UserAlreadyExists
from metaledger.domain.ports import KeyRecord, as_uuid
from metaledger.domain.profiles import (
    DEFAULT_CONNECTION,
    NewUser,
    UserProfiles,
    UserUpdate,
    Written,
)
from metaledger.domain.timeline import EVENT_TOPICS

ACTOR = Actor(kind="client", id="contract-tests", grant="client-credentials")
ONE_MICROSECOND = timedelta(microseconds=1)
# The size of a user's data key (AES-256).
KEY_BYTES = 32


def create(profiles: UserProfiles, email: str, connection: str = DEFAULT_CONNECTION) -> Written:
    return profiles.create_user(NewUser(connection=connection, profile={"email": email}), ACTOR)


def update(profiles: UserProfiles, user_id: str, change: UserUpdate) -> Written:
    return profiles.update_user(user_id, change, ACTOR)


def change_email(profiles: UserProfiles, user_id: str, email: str) -> Written:
    return update(profiles, user_id, UserUpdate(profile={"email": email}))


def patch_app_metadata(profiles: UserProfiles, user_id: str, patch: dict[str, Any]) -> Written:
    return update(profiles, user_id, UserUpdate(buckets={"app_metadata": patch}))


def patch_user_metadata(profiles: UserProfiles, user_id: str, patch: dict[str, Any]) -> Written:
    return update(profiles, user_id, UserUpdate(buckets={"user_metadata": patch}))


def position_of(written: Written) -> int:
    assert written.position is not None
    return written.position


def positions(rows: list[Any]) -> list[int]:
    return [int(row["position"]) for row in rows]


def sql_tables(profiles: UserProfiles) -> SqlTables:
    tables = profiles.recorder
    assert isinstance(tables, SqlTables)
    return tables


class EmailIndexContract:
    """`EmailIndex.user_ids_by_email`: the users holding an email, kept by the commands."""

    def test_a_created_users_email_finds_them(self, profiles: UserProfiles) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id

        assert profiles.email_index.user_ids_by_email("ada@example.com") == [user_id]

    def test_an_email_no_one_holds_finds_no_one(self, profiles: UserProfiles) -> None:
        create(profiles, "ada@example.com")

        assert profiles.email_index.user_ids_by_email("grace@example.com") == []

    def test_an_email_is_looked_up_exactly_with_its_case(self, profiles: UserProfiles) -> None:
        create(profiles, "ada@example.com")

        assert profiles.email_index.user_ids_by_email("Ada@Example.com") == []

    def test_an_email_is_found_in_every_connection_that_holds_it(
        self, profiles: UserProfiles, second_connection: str
    ) -> None:
        first = create(profiles, "ada@example.com").user.user_id
        second = create(profiles, "ada@example.com", connection=second_connection).user.user_id

        assert profiles.email_index.user_ids_by_email("ada@example.com") == sorted([first, second])

    def test_a_held_email_cannot_be_claimed_by_another_user_of_the_connection(
        self, profiles: UserProfiles
    ) -> None:
        holder = create(profiles, "ada@example.com").user.user_id

        with pytest.raises(UserAlreadyExists):
            create(profiles, "ada@example.com")
        assert profiles.email_index.user_ids_by_email("ada@example.com") == [holder]

    def test_a_changed_email_finds_the_user_under_the_new_address(
        self, profiles: UserProfiles
    ) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id

        change_email(profiles, user_id, "ada@lovelace.example")

        assert profiles.email_index.user_ids_by_email("ada@lovelace.example") == [user_id]

    def test_a_changed_email_releases_the_old_address(self, profiles: UserProfiles) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id

        change_email(profiles, user_id, "ada@lovelace.example")

        assert profiles.email_index.user_ids_by_email("ada@example.com") == []

    def test_a_deleted_users_email_is_released(self, profiles: UserProfiles) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id

        profiles.delete_user(user_id, ACTOR)

        assert profiles.email_index.user_ids_by_email("ada@example.com") == []

    def test_a_released_email_can_be_claimed_by_another_user(self, profiles: UserProfiles) -> None:
        first = create(profiles, "ada@example.com").user.user_id
        change_email(profiles, first, "ada@lovelace.example")

        second = create(profiles, "ada@example.com").user.user_id

        assert profiles.email_index.user_ids_by_email("ada@example.com") == [second]


class UserKeysContract:
    """`UserKeys.user_keys_of`: each user's data key, destroyed when the user is erased."""

    def test_a_created_user_has_a_key(self, profiles: UserProfiles) -> None:
        user = create(profiles, "ada@example.com").user

        record = profiles.user_keys.user_keys_of([user.id])[user.id]

        assert (record.user_id, len(record.key or b"")) == (user.user_id, KEY_BYTES)

    def test_the_keys_of_several_users_are_read_in_one_call(self, profiles: UserProfiles) -> None:
        users = [create(profiles, f"user{n}@example.com").user for n in range(3)]

        records = profiles.user_keys.user_keys_of([user.id for user in users])

        assert {aggregate_id: record.user_id for aggregate_id, record in records.items()} == {
            user.id: user.user_id for user in users
        }

    def test_a_user_with_no_events_has_no_key_record(self, profiles: UserProfiles) -> None:
        create(profiles, "ada@example.com")

        assert profiles.user_keys.user_keys_of([uuid4()]) == {}

    def test_no_users_have_no_keys(self, profiles: UserProfiles) -> None:
        create(profiles, "ada@example.com")

        assert profiles.user_keys.user_keys_of([]) == {}

    def test_an_erased_users_key_is_destroyed_and_their_record_kept(
        self, profiles: UserProfiles
    ) -> None:
        user = create(profiles, "ada@example.com").user

        profiles.delete_user(user.user_id, ACTOR, erase=True)

        assert profiles.user_keys.user_keys_of([user.id]) == {
            user.id: KeyRecord(user.user_id, None)
        }

    def test_a_user_deleted_without_erasure_keeps_their_key(self, profiles: UserProfiles) -> None:
        user = create(profiles, "ada@example.com").user
        key = profiles.user_keys.user_keys_of([user.id])[user.id].key

        profiles.delete_user(user.user_id, ACTOR)

        assert profiles.user_keys.user_keys_of([user.id])[user.id].key == key


class TimeIndexContract:
    """`TimeIndex.version_at`: the user's last version written at or before a moment."""

    def test_no_version_is_current_before_a_users_first_event(self, profiles: UserProfiles) -> None:
        user = create(profiles, "ada@example.com").user

        assert profiles.time_index.version_at(user.id, user.created_on - ONE_MICROSECOND) is None

    def test_a_version_is_current_from_the_moment_it_was_written(
        self, profiles: UserProfiles
    ) -> None:
        user = create(profiles, "ada@example.com").user

        assert profiles.time_index.version_at(user.id, user.created_on) == 1

    def test_a_moment_between_two_writes_gives_the_earlier_version(
        self, profiles: UserProfiles
    ) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id
        patched = patch_app_metadata(profiles, user_id, {"plan": "pro"}).user

        moment = patched.modified_on - ONE_MICROSECOND

        assert profiles.time_index.version_at(patched.id, moment) == 1

    def test_a_moment_after_the_last_write_gives_the_last_version(
        self, profiles: UserProfiles
    ) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id
        patch_app_metadata(profiles, user_id, {"plan": "pro"})
        patched = patch_app_metadata(profiles, user_id, {"plan": "team"}).user

        moment = patched.modified_on + timedelta(days=1)

        assert profiles.time_index.version_at(patched.id, moment) == 3

    def test_a_user_with_no_events_has_no_version(self, profiles: UserProfiles) -> None:
        user = create(profiles, "ada@example.com").user

        assert profiles.time_index.version_at(uuid4(), user.created_on) is None


class EventRowsContract:
    """`EventRows.events_after`: the notification log's rows, in order, in bulk."""

    def test_rows_after_a_position_come_in_log_order(self, profiles: UserProfiles) -> None:
        ada = create(profiles, "ada@example.com")
        grace = create(profiles, "grace@example.com")
        patched = patch_app_metadata(profiles, ada.user.user_id, {"plan": "pro"})

        rows = profiles.event_rows.events_after(0, 100)

        assert positions(rows) == [position_of(w) for w in (ada, grace, patched)]

    def test_rows_start_after_the_position_given(self, profiles: UserProfiles) -> None:
        first = create(profiles, "ada@example.com")
        second = create(profiles, "grace@example.com")

        rows = profiles.event_rows.events_after(position_of(first), 100)

        assert positions(rows) == [position_of(second)]

    def test_no_rows_follow_the_last_position(self, profiles: UserProfiles) -> None:
        last = create(profiles, "ada@example.com")

        assert profiles.event_rows.events_after(position_of(last), 100) == []

    def test_rows_are_the_notification_logs_own(self, profiles: UserProfiles) -> None:
        user_id = create(profiles, "ada@example.com").user.user_id
        patch_user_metadata(profiles, user_id, {"hobby": "chess"})

        rows = profiles.event_rows.events_after(0, 100)

        log = profiles.recorder.select_notifications(0, 100, inclusive_of_start=False)
        assert [
            (
                int(row["position"]),
                as_uuid(row["originator_id"]),
                int(row["originator_version"]),
                row["topic"],
                bytes(row["state"]),
            )
            for row in rows
        ] == [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in log]

    def test_the_limit_caps_the_rows_to_the_first_ones(self, profiles: UserProfiles) -> None:
        written = [create(profiles, f"user{n}@example.com") for n in range(4)]

        rows = profiles.event_rows.events_after(0, 2)

        assert positions(rows) == [position_of(w) for w in written[:2]]

    def test_a_topic_filter_keeps_only_events_of_those_topics(self, profiles: UserProfiles) -> None:
        ada = create(profiles, "ada@example.com").user.user_id
        app = patch_app_metadata(profiles, ada, {"plan": "pro"})
        patch_user_metadata(profiles, ada, {"hobby": "chess"})
        grace = create(profiles, "grace@example.com").user.user_id
        deleted = profiles.delete_user(grace, ACTOR)

        rows = profiles.event_rows.events_after(
            0, 100, [EVENT_TOPICS["AppMetadataPatched"], EVENT_TOPICS["UserDeleted"]]
        )

        assert positions(rows) == [position_of(app), deleted]

    def test_the_limit_counts_only_rows_of_the_filtered_topics(
        self, profiles: UserProfiles
    ) -> None:
        patches = []
        for n in range(3):
            user_id = create(profiles, f"user{n}@example.com").user.user_id
            patches.append(patch_app_metadata(profiles, user_id, {"n": n}))

        rows = profiles.event_rows.events_after(0, 2, [EVENT_TOPICS["AppMetadataPatched"]])

        assert positions(rows) == [position_of(w) for w in patches[:2]]

    def test_rows_with_keys_are_the_rows_after_the_position_with_each_users_key(
        self, profiles: UserProfiles
    ) -> None:
        first = create(profiles, "ada@example.com")
        grace = create(profiles, "grace@example.com").user
        patch_app_metadata(profiles, grace.user_id, {"plan": "pro"})

        rows = profiles.event_rows.events_with_keys_after(position_of(first), 100)

        plain = profiles.event_rows.events_after(position_of(first), 100)
        key = profiles.user_keys.user_keys_of([grace.id])[grace.id].key
        assert [{**row} for row in rows] == [{**row, "key": key} for row in plain]

    def test_rows_of_an_erased_user_come_with_no_key(self, profiles: UserProfiles) -> None:
        user = create(profiles, "ada@example.com").user
        profiles.delete_user(user.user_id, ACTOR, erase=True)

        rows = profiles.event_rows.events_with_keys_after(0, 100)

        assert [row["key"] for row in rows] == [None, None]

    def test_the_limit_caps_the_rows_with_keys_to_the_first_ones(
        self, profiles: UserProfiles
    ) -> None:
        written = [create(profiles, f"user{n}@example.com") for n in range(4)]

        rows = profiles.event_rows.events_with_keys_after(0, 2)

        assert positions(rows) == [position_of(w) for w in written[:2]]


class SqlTablesContract:
    """`SqlTables`: other components' statements on tables of their own in the event store's
    database, such as the login throttle's failure streaks."""

    def test_a_table_of_its_own_reads_its_rows_back_by_column_name(
        self, profiles: UserProfiles
    ) -> None:
        tables = sql_tables(profiles)
        table = tables.table("contract_notes")
        p = tables.dialect.placeholder
        tables.write(f"CREATE TABLE {table} (name TEXT PRIMARY KEY, note TEXT NOT NULL)")

        tables.write(f"INSERT INTO {table} (name, note) VALUES ({p}, {p})", ("ada", "first"))

        rows = tables.rows(f"SELECT name, note FROM {table} WHERE name = {p}", ("ada",))
        assert [(row["name"], row["note"]) for row in rows] == [("ada", "first")]

    def test_login_failures_up_to_the_limit_block_the_key(self, profiles: UserProfiles) -> None:
        failures = stores.login_failures(profiles)
        now = 1_000_000.0

        for _ in range(3):
            failures.record_login_failure(Failure(b"key", now, max_failures=3, block_seconds=60))

        assert failures.login_blocked_until(b"key", now) == now + 60

    def test_cleared_login_failures_no_longer_block(self, profiles: UserProfiles) -> None:
        failures = stores.login_failures(profiles)
        now = 1_000_000.0
        for _ in range(3):
            failures.record_login_failure(Failure(b"key", now, max_failures=3, block_seconds=60))

        failures.clear_login_failures(b"key")

        assert failures.login_blocked_until(b"key", now) is None


class EventStoreContract(
    EmailIndexContract, UserKeysContract, TimeIndexContract, EventRowsContract, SqlTablesContract
):
    """Everything the event store keeps beside the events. Subclasses set `backend`."""


class TestOnSQLite(EventStoreContract):
    backend = "sqlite"


class TestOnPostgres(EventStoreContract):
    backend = "postgres"
