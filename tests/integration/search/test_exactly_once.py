"""The projector applies every event exactly once, also when its process is killed mid-way."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.store import SearchStore
from tests.integration.search.conftest import ACTOR, create, documents, patch
from tests.support import processes

USERS = 3000


def seed_log(profiles: UserProfiles) -> set[str]:
    """Creates, patches and deletes: a log of a few thousand events; returns the live users."""
    live = set()
    for number in range(USERS):
        user_id = create(profiles, f"user{number}", app_metadata={"plan": "free", "n": number})
        live.add(user_id)
        if number % 3 == 0:
            patch(profiles, user_id, app_metadata={"plan": "pro"})
        if number % 10 == 0:
            profiles.delete_user(user_id, ACTOR)
            live.discard(user_id)
    return live


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def test_a_projector_killed_while_projecting_resumes_and_applies_each_event_once(
    settings: Settings, profiles: UserProfiles, store: SearchStore, tmp_path: Path
) -> None:
    live = seed_log(profiles)
    end = profiles.recorder.max_notification_id() or 0
    first = processes.start(settings, "project", log=tmp_path / "first.log")
    try:
        wait_until(lambda: (store.position() or 0) > 0, timeout=60)
        first.kill()  # SIGKILL: no shutdown, whatever transaction was open is lost
        first.wait()
        interrupted_at = store.position() or 0
    finally:
        first.kill()
    second = processes.start(settings, "project", log=tmp_path / "second.log")
    try:
        wait_until(lambda: store.position() == end, timeout=120)
    finally:
        second.terminate()
        second.wait(timeout=30)
    truth = {user_id: profiles.get_user(user_id).as_auth0() for user_id in live}
    # A replayed event would not apply to a user already past it and would be recorded as
    # skipped: none is, and every user equals the event store's.
    assert (0 < interrupted_at < end, documents(store) == truth, store.skipped_events()) == (
        True,
        True,
        [],
    )
