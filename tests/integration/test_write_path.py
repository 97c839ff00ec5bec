"""The write path under failed statements: concurrent saves that conflict or fail are refused
alone, everything else commits, a refusal never hides a stored write, and the store stays
writable afterwards (SQLite file and PostgreSQL server)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import eventsourcing.utils
import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import OperationalError, PersistenceError, StoredEvent

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.errors import EmailAlreadyInUse, UserAlreadyExists, UserNotFound
from metaledger.domain.ports import EmailClaim, EmailTakenError
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles, UserUpdate
from metaledger.domain.storage.recorders import PostgresProfilesRecorder, SQLiteProfilesRecorder
from tests.support.concurrency import at_once
from tests.support.users import create_user

ACTOR = Actor(kind="client", id="write-path-client", grant="client-credentials")
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
ProfilesRecorder = SQLiteProfilesRecorder | PostgresProfilesRecorder


@pytest.fixture
def profiles(settings: Settings) -> Iterator[UserProfiles]:
    application = build_profiles(settings)
    yield application
    application.close()


@pytest.fixture
def recorder(profiles: UserProfiles) -> ProfilesRecorder:
    assert isinstance(profiles.recorder, SQLiteProfilesRecorder | PostgresProfilesRecorder)
    return profiles.recorder


def create(profiles: UserProfiles, email: str, user_id: str) -> str:
    return create_user(profiles, ACTOR, {"email": email}, user_id=user_id)


def update(profiles: UserProfiles, user_id: str, **fields: Any) -> None:
    profiles.update_user(user_id, UserUpdate(**fields), ACTOR)


def one_winner(outcomes: Sequence[object], refusal: type[Exception]) -> int:
    """The index of the one write that succeeded; the other was refused with `refusal`."""
    refused = [isinstance(outcome, refusal) for outcome in outcomes]
    assert sorted(refused) == [False, True], outcomes
    return refused.index(False)


def test_concurrent_conflicting_writes_refuse_the_losers_only_and_the_store_stays_writable(
    profiles: UserProfiles,
) -> None:
    existing = [
        create(profiles, f"existing{n}@example.com", f"auth0|existing{n}") for n in range(8)
    ]
    patched, movers = existing[:6], existing[6:]
    for round_ in range(6):
        twins = [f"auth0|twin{round_}_{n}" for n in range(2)]
        unique = [f"auth0|unique{round_}_{n}" for n in range(6)]
        emails = [profiles.get_user(user_id).email for user_id in movers]
        writes: list[Callable[[], object]] = [
            *(partial(create, profiles, f"twin{round_}@example.com", user_id) for user_id in twins),
            *(
                partial(create, profiles, f"{user_id[6:]}@example.com", user_id)
                for user_id in unique
            ),
            *(
                partial(update, profiles, user_id, buckets={"app_metadata": {f"r{round_}": n}})
                for n, user_id in enumerate(patched)
            ),
            *(
                partial(update, profiles, user_id, profile={"email": f"moved{round_}@example.com"})
                for user_id in movers
            ),
        ]

        outcomes = at_once(writes)

        twin = one_winner(outcomes[:2], UserAlreadyExists)
        assert [u.user_id for u in profiles.users_by_email(f"twin{round_}@example.com")] == [
            twins[twin]
        ]
        with pytest.raises(UserNotFound):
            profiles.get_user(twins[1 - twin])
        assert outcomes[2:8] == unique
        assert outcomes[8:14] == [None] * 6
        mover = one_winner(outcomes[14:], EmailAlreadyInUse)
        assert profiles.get_user(movers[mover]).email == f"moved{round_}@example.com"
        assert profiles.get_user(movers[1 - mover]).email == emails[1 - mover]
    for n, user_id in enumerate(patched):
        assert profiles.get_user(user_id).app_metadata == {f"r{r}": n for r in range(6)}
    later = [create(profiles, f"later{n}@example.com", f"auth0|later{n}") for n in range(40)]
    assert all(profiles.get_user(user_id).email for user_id in later)


def _claim(email: str, user_id: UUID) -> EmailClaim:
    return EmailClaim(DEFAULT_CONNECTION, email, str(user_id), True)


def _event(user_id: UUID) -> StoredEvent:
    return StoredEvent(
        originator_id=user_id, originator_version=1, topic="tests:Saved", state=os.urandom(16)
    )


def test_inserts_refused_for_a_taken_email_leave_every_connection_able_to_write(
    profiles: UserProfiles, recorder: ProfilesRecorder
) -> None:
    owner = uuid4()
    recorder.insert_events([_event(owner)], email_claims=[_claim("taken@example.com", owner)])
    for batch in range(5):
        users = [uuid4() for _ in range(12)]
        claims = [_claim(f"batch{batch}_{n}@example.com", user) for n, user in enumerate(users)]
        # Second, the taken email is refused only once the claims after it are sent; on
        # PostgreSQL one of them is the claim's sixth run on its connection, which psycopg
        # prepares, and the server skips that PREPARE.
        claims[1] = _claim("taken@example.com", users[1])

        with pytest.raises(EmailTakenError):
            recorder.insert_events([_event(user) for user in users], email_claims=claims)

        assert all(recorder.select_events(user) == [] for user in users)
        assert profiles.email_index.user_ids_by_email(f"batch{batch}_0@example.com") == []
    later = [uuid4() for _ in range(40)]
    for n, user in enumerate(later):
        recorder.insert_events([_event(user)], email_claims=[_claim(f"later{n}@example.com", user)])
    assert all(len(recorder.select_events(user)) == 1 for user in later)
    assert profiles.email_index.user_ids_by_email("later39@example.com") == [str(later[-1])]


@POSTGRES_ONLY
def test_an_insert_whose_commit_was_not_acknowledged_is_retried_without_storing_twice(
    recorder: ProfilesRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(recorder, PostgresProfilesRecorder)
    datastore = recorder.datastore
    connection = datastore.get_connection
    lost: list[bool] = []

    @contextlib.contextmanager
    def losing_the_first_acknowledgement() -> Iterator[Any]:
        with connection() as conn:
            yield conn
        if not lost:  # the commit went through, the client never heard of it
            lost.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(datastore, "get_connection", losing_the_first_acknowledgement)
    sleeps: list[float] = []
    monkeypatch.setattr(eventsourcing.utils, "sleep", sleeps.append)
    user = uuid4()
    event = _event(user)

    ids = recorder.insert_events([event], email_claims=[_claim("once@example.com", user)])

    monkeypatch.undo()
    assert lost == [True]
    assert len(sleeps) == 1  # one retry of the lost connection
    [stored] = recorder.select_notifications(start=None, limit=10)
    assert (stored.originator_id, stored.state) == (user, event.state)
    assert ids == [stored.id]
    assert recorder.user_ids_by_email("once@example.com") == [str(user)]


def _change(
    profiles: UserProfiles, user_id: str, plan: str, claim: str | None = None
) -> ProcessingEvent[UUID]:
    """A save of the user's app_metadata plan (with a claim of `claim`, if given)."""
    user = profiles.get_user(user_id)
    user.patch_app_metadata({"plan": plan}, ACTOR.as_dict())
    claims = [EmailClaim(DEFAULT_CONNECTION, claim, user_id, True)] if claim else []
    pending: ProcessingEvent[UUID] = ProcessingEvent()
    pending.collect_events(user, email_claims=claims)
    return pending


# PostgreSQL refuses text holding NUL: the statement writing the claim fails.
UNSTORABLE = "nul\x00@example.com"


@POSTGRES_ONLY
def test_a_save_whose_statement_fails_is_refused_alone_and_the_rest_of_its_batch_commits(
    profiles: UserProfiles,
) -> None:
    ids = [create(profiles, f"member{n}@example.com", f"auth0|member{n}") for n in range(4)]
    batch = [_change(profiles, user_id, "pro") for user_id in ids]
    batch[2] = _change(profiles, ids[2], "pro", claim=UNSTORABLE)

    outcomes = profiles._record_batch(batch)

    refused = [isinstance(outcome, PersistenceError) for outcome in outcomes]
    assert refused == [False, False, True, False]
    plans = [profiles.get_user(user_id).app_metadata.get("plan") for user_id in ids]
    assert plans == ["pro", "pro", None, "pro"]


@POSTGRES_ONLY
def test_a_save_failing_after_its_batch_committed_leaves_the_committed_saves_successful(
    profiles: UserProfiles,
) -> None:
    ids = [create(profiles, f"first{n}@example.com", f"auth0|first{n}") for n in range(2)]
    # The second save of a user is committed on its own after the others.
    batch = [
        _change(profiles, ids[0], "pro"),
        _change(profiles, ids[1], "pro"),
        _change(profiles, ids[0], "team", claim=UNSTORABLE),
    ]

    outcomes = profiles._record_batch(batch)

    assert [isinstance(outcome, list) for outcome in outcomes] == [True, True, False]
    assert [profiles.get_user(user_id).app_metadata for user_id in ids] == [{"plan": "pro"}] * 2


def test_a_failure_after_the_commit_is_not_reported_as_a_failed_save(
    profiles: UserProfiles, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = create(profiles, "snapshot@example.com", "auth0|snapshot")

    def failing_snapshots(saved: ProcessingEvent[UUID]) -> None:
        raise RuntimeError("the snapshot store is full")

    monkeypatch.setattr(profiles, "_take_snapshots", failing_snapshots)

    update(profiles, user_id, buckets={"app_metadata": {"plan": "pro"}})

    assert profiles.get_user(user_id).app_metadata == {"plan": "pro"}
    assert profiles.get_user(user_id).version == 2
    assert "the snapshot store is full" in caplog.text
