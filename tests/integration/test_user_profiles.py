"""The UserProfiles application against the real stores: SQLite file and PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import eventsourcing.utils
import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError

from metaledger.api.bootstrap import Container, build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.errors import (
    EmailAlreadyInUse,
    UnknownConnection,
    UserAlreadyExists,
    UserNotFound,
)
from metaledger.domain.ports import EmailTakenError
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from metaledger.domain.user import User

ACTOR = Actor(kind="client", id="test-client", grant="client-credentials")


@pytest.fixture
def profiles(container: Container) -> UserProfiles:
    return container.profiles


def create(profiles: UserProfiles, email: str | None = None, **fields: Any) -> str:
    profile = {"email": email} if email else {}
    written = profiles.create_user(
        NewUser(connection=DEFAULT_CONNECTION, profile=profile, **fields), ACTOR
    )
    return written.user.user_id


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    profiles.update_user(user_id, UserUpdate(buckets=dict(buckets)), ACTOR)


def test_a_created_user_reads_back_with_its_metadata(profiles: UserProfiles) -> None:
    user_id = create(profiles, "jane@example.com", user_metadata={"hobby": "surfing"})
    user = profiles.get_user(user_id)
    assert user.user_metadata == {"hobby": "surfing"}
    assert user.as_auth0()["email"] == "jane@example.com"


def test_metadata_shaped_like_a_type_envelope_survives_the_store(profiles: UserProfiles) -> None:
    envelope = {"_type_": "uuid_hex", "_data_": "00000000000000000000000000000000"}
    user_id = create(profiles, user_metadata={"tricky": envelope, **envelope})
    assert profiles.get_user(user_id).user_metadata == {"tricky": envelope, **envelope}


def test_patches_apply_auth0_merge_rules_in_the_store(profiles: UserProfiles) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing", "color": "red"})
    patch(profiles, user_id, user_metadata={"color": None, "addresses": {"home": "1 Main St"}})
    assert profiles.get_user(user_id).user_metadata == {
        "hobby": "surfing",
        "addresses": {"home": "1 Main St"},
    }


def test_an_empty_bucket_patch_clears_it_in_the_store(profiles: UserProfiles) -> None:
    user_id = create(profiles, app_metadata={"plan": "pro", "roles": ["admin"]})
    patch(profiles, user_id, app_metadata={})
    assert profiles.get_user(user_id).app_metadata == {}


def test_an_earlier_version_reads_back_across_snapshots(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    for number in range(1, 121):
        patch(profiles, user_id, user_metadata={"counter": number})
    assert profiles.get_user(user_id).version == 121
    assert profiles.get_user(user_id, version=75).user_metadata == {"counter": 74}
    assert profiles.get_user(user_id).user_metadata == {"counter": 120}


def test_a_second_user_with_the_same_email_is_refused(profiles: UserProfiles) -> None:
    create(profiles, "taken@example.com")
    with pytest.raises(UserAlreadyExists):
        create(profiles, "Taken@Example.com")


def test_a_second_user_with_the_same_user_id_is_refused(profiles: UserProfiles) -> None:
    create(profiles, user_id="auth0|fixed")
    with pytest.raises(UserAlreadyExists):
        create(profiles, user_id="auth0|fixed")


def test_an_unknown_connection_is_refused(profiles: UserProfiles) -> None:
    with pytest.raises(UnknownConnection):
        profiles.create_user(NewUser(connection="nope"), ACTOR)


def test_changing_email_moves_the_index_entry(profiles: UserProfiles) -> None:
    user_id = create(profiles, "old@example.com")
    profiles.update_user(user_id, UserUpdate(profile={"email": "NEW@example.com"}), ACTOR)
    assert profiles.users_by_email("old@example.com") == []
    assert [u.user_id for u in profiles.users_by_email("new@example.com")] == [user_id]
    assert profiles.get_user(user_id).as_auth0()["email_verified"] is False


def test_changing_email_to_one_in_use_is_refused_and_changes_nothing(
    profiles: UserProfiles,
) -> None:
    create(profiles, "first@example.com")
    second = create(profiles, "second@example.com")
    with pytest.raises(EmailAlreadyInUse):
        profiles.update_user(second, UserUpdate(profile={"email": "first@example.com"}), ACTOR)
    assert profiles.get_user(second).email == "second@example.com"
    assert profiles.get_user(second).version == 1


def test_two_changes_of_a_user_to_one_new_email_both_succeed(
    profiles: UserProfiles, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = create(profiles, "before@example.com")
    meanwhile = build_profiles(settings)  # another process
    save = profiles.save

    def save_after_the_other_change(*objs: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(profiles, "save", save)
        meanwhile.update_user(user_id, UserUpdate(profile={"email": "after@example.com"}), ACTOR)
        return save(*objs, **kwargs)

    monkeypatch.setattr(profiles, "save", save_after_the_other_change)
    written = profiles.update_user(
        user_id, UserUpdate(profile={"email": "after@example.com", "name": "Jo"}), ACTOR
    )

    assert written.user.email == "after@example.com"
    assert profiles.get_user(user_id).as_auth0()["name"] == "Jo"
    assert [user.user_id for user in profiles.users_by_email("after@example.com")] == [user_id]


def test_users_by_email_is_an_exact_match(profiles: UserProfiles) -> None:
    user_id = create(profiles, "exact@example.com")
    assert [u.user_id for u in profiles.users_by_email("exact@example.com")] == [user_id]
    assert profiles.users_by_email("EXACT@example.com") == []
    assert profiles.users_by_email("exact@example.co") == []


def test_a_deleted_user_is_gone_and_frees_its_email(profiles: UserProfiles) -> None:
    user_id = create(profiles, "leaving@example.com")
    assert profiles.delete_user(user_id, ACTOR) is not None
    with pytest.raises(UserNotFound):
        profiles.get_user(user_id)
    assert profiles.users_by_email("leaving@example.com") == []
    create(profiles, "leaving@example.com")


def test_deleting_a_missing_user_is_not_an_error(profiles: UserProfiles) -> None:
    assert profiles.delete_user("auth0|missing", ACTOR) is None


def run_in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def target(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_patches_of_one_user_lose_no_update(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    writers, patches_each = 6, 10

    def write(index: int) -> None:
        for number in range(patches_each):
            patch(profiles, user_id, app_metadata={f"w{index}_{number}": number})

    assert run_in_threads(writers, write) == []
    user = profiles.get_user(user_id)
    assert len(user.app_metadata) == writers * patches_each
    assert user.version == 1 + writers * patches_each


def test_concurrent_creates_with_one_email_make_exactly_one_user(profiles: UserProfiles) -> None:
    created: list[str] = []

    def attempt(_: int) -> None:
        created.append(create(profiles, "race@example.com"))

    errors = run_in_threads(8, attempt)
    assert len(created) == 1
    assert len(errors) == 7
    assert all(isinstance(error, UserAlreadyExists) for error in errors)
    assert [u.user_id for u in profiles.users_by_email("race@example.com")] == created


def test_another_writer_s_changes_reach_a_cached_reader(settings: Settings) -> None:
    writer, reader = build_profiles(settings), build_profiles(settings)
    user_id = create(writer, app_metadata={"plan": "free"})
    assert reader.get_user(user_id).app_metadata == {"plan": "free"}
    patch(writer, user_id, app_metadata={"plan": "pro"})
    assert reader.get_user(user_id).app_metadata == {"plan": "pro"}
    patch(reader, user_id, app_metadata={"seats": 5})
    assert writer.get_user(user_id).app_metadata == {"plan": "pro", "seats": 5}


def _batch_of(profiles: UserProfiles, users: list[User]) -> list[Any]:
    """The outcome of each user's save, all submitted to the store as one group commit."""
    batch = []
    for user in users:
        pending: ProcessingEvent[UUID] = ProcessingEvent()
        pending.collect_events(user)
        batch.append(pending)
    return profiles._record_batch(batch)


def test_a_batch_refuses_only_the_second_save_of_a_user_it_already_writes(
    profiles: UserProfiles,
) -> None:
    ids = [create(profiles, f"batch{n}@example.com") for n in range(4)]
    users = [profiles.get_user(user_id) for user_id in ids]
    twin = profiles.get_user(ids[1])  # read at the same version as users[1]
    for user in [*users, twin]:
        user.patch_app_metadata({"plan": "pro"}, ACTOR.as_dict())

    outcomes = _batch_of(profiles, [users[0], users[1], twin, users[2], users[3]])

    assert [isinstance(outcome, IntegrityError) for outcome in outcomes] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert all(profiles.get_user(user_id).app_metadata == {"plan": "pro"} for user_id in ids)


@pytest.fixture
def store_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sleeps of the library's recorders, which retry an OperationalError after 200 ms."""
    sleeps: list[float] = []
    monkeypatch.setattr(eventsourcing.utils, "sleep", sleeps.append)
    return sleeps


def test_a_batch_with_a_stale_save_commits_every_other_save_at_once(
    profiles: UserProfiles, store_sleeps: list[float]
) -> None:
    ids = [create(profiles, f"stale{n}@example.com") for n in range(6)]
    users = [profiles.get_user(user_id) for user_id in ids]
    patch(profiles, ids[4], app_metadata={"plan": "written meanwhile"})
    for user in users:
        user.patch_app_metadata({"seats": 3}, ACTOR.as_dict())

    outcomes = _batch_of(profiles, users)

    refused = [isinstance(outcome, IntegrityError) for outcome in outcomes]
    assert refused == [False, False, False, False, True, False]
    stored = [profiles.get_user(user_id).app_metadata for user_id in ids]
    assert stored == [{"seats": 3}] * 4 + [{"plan": "written meanwhile"}, {"seats": 3}]
    assert store_sleeps == []


def test_a_batch_claiming_a_taken_email_is_refused_at_once_without_the_store_retrying(
    profiles: UserProfiles, store_sleeps: list[float]
) -> None:
    ids = [create(profiles, f"claim{n}@example.com") for n in range(7)]
    batch = []
    for n, user_id in enumerate(ids[:6]):
        user = profiles.get_user(user_id)
        previous = user.email
        wanted = "claim6@example.com" if n == 3 else f"renamed{n}@example.com"
        user.update_profile({"email": wanted}, ACTOR.as_dict())
        pending: ProcessingEvent[UUID] = ProcessingEvent()
        pending.collect_events(user, email_claims=profiles._email_claims(user, previous))
        batch.append(pending)

    outcomes = profiles._record_batch(batch)

    assert [isinstance(outcome, EmailTakenError) for outcome in outcomes] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert store_sleeps == []


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_a_sqlite_write_waits_for_a_writer_in_another_process(
    profiles: UserProfiles, settings: Settings
) -> None:
    user_id = create(profiles)
    hold_the_lock = (
        "import fcntl, sys\n"
        "lock = open(sys.argv[1], 'a')\n"
        "fcntl.flock(lock, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    lock_path = f"{settings.data_dir / 'events.sqlite3'}-writer"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold_the_lock, lock_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin
    assert holder.stdout
    assert holder.stdout.readline() == b"held\n"
    written = threading.Event()

    def write() -> None:
        patch(profiles, user_id, app_metadata={"plan": "pro"})
        written.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not written.wait(0.5)
    holder.stdin.close()
    assert holder.wait(10) == 0
    assert written.wait(10)
    writer.join()
    assert profiles.get_user(user_id).app_metadata == {"plan": "pro"}
