"""What the write path and the followers of the log report to their observers (the metrics'
source): each group commit with its saves, events and time, each batch a follower read, each
failed one (SQLite file and PostgreSQL server)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import pytest

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.follower import Follower
from tests.support.concurrency import at_once
from tests.support.users import create_user

ACTOR = Actor(kind="client", id="observed-client", grant="client-credentials")
WAIT_SECONDS = 30


@dataclass
class Recorded:
    commits: list[tuple[int, int, float]] = field(default_factory=list)
    batches: list[tuple[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def committed(self, saves: int, events: int, seconds: float) -> None:
        self.commits.append((saves, events, seconds))

    def batch(self, follower: str, events: int, seconds: float) -> None:
        self.batches.append((follower, events))

    def failed(self, follower: str, error: Exception) -> None:
        self.failures.append(f"{follower}: {error}")


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def profiles(settings: Settings, recorded: Recorded) -> Iterator[UserProfiles]:
    application = build_profiles(settings)
    application.commit_observer = recorded
    yield application
    application.close()


def _create(profiles: UserProfiles, email: str) -> str:
    return create_user(profiles, ACTOR, {"email": email})


def test_a_lone_write_is_one_commit_of_one_save(profiles: UserProfiles, recorded: Recorded) -> None:
    _create(profiles, "one@example.com")
    ((saves, events, seconds),) = recorded.commits
    assert (saves, events) == (1, 1)
    assert seconds > 0


def test_concurrent_writes_add_up_to_every_save_and_event(
    profiles: UserProfiles, recorded: Recorded
) -> None:
    at_once([partial(_create, profiles, f"u{index}@example.com") for index in range(8)])
    assert sum(saves for saves, _, _ in recorded.commits) == 8
    assert sum(events for _, events, _ in recorded.commits) == 8
    assert profiles.recorder.max_notification_id() == 8


def test_a_refused_save_counts_as_a_save_without_events(
    profiles: UserProfiles, recorded: Recorded
) -> None:
    _create(profiles, "taken@example.com")
    with pytest.raises(Exception, match="already"):
        _create(profiles, "taken@example.com")
    assert [(saves, events) for saves, events, _ in recorded.commits] == [(1, 1), (1, 0)]


def _follow(follower: Follower, until: Callable[[], bool]) -> None:
    """Runs the follower in its thread until `until()` holds."""
    follower.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not until():
            assert time.monotonic() < deadline, "the follower did not report it"
            time.sleep(0.02)
    finally:
        follower.stop()


def test_a_follower_reports_each_batch_that_read_events(
    profiles: UserProfiles, recorded: Recorded
) -> None:
    for index in range(3):
        _create(profiles, f"f{index}@example.com")
    position = {"at": 0}

    def step() -> int:
        read = profiles.recorder.select_notifications(position["at"], 2, inclusive_of_start=False)
        if read:
            position["at"] = read[-1].id
        return len(read)

    follower = Follower("observed", step, 2, profiles.recorder, observer=recorded)
    _follow(follower, lambda: sum(events for _, events in recorded.batches) >= 3)
    assert recorded.batches == [("observed", 2), ("observed", 1)]


def test_a_follower_reports_each_failed_batch(profiles: UserProfiles, recorded: Recorded) -> None:
    def step() -> int:
        raise ConnectionError("broker away")

    _follow(
        Follower("relay", step, 10, profiles.recorder, observer=recorded),
        lambda: bool(recorded.failures),
    )
    assert recorded.failures[0] == "relay: broker away"
    assert recorded.batches == []
