"""A follower of the event log logs an outage once when it starts and once when it ends."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.follower import Follower
from tests.support.postgres import PostgresServer


class Outage:
    """A step that fails `failures` times, then works; the follower stops once it worked."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.worked = threading.Event()

    def __call__(self) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.worked.set()
        return 0


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_an_outage_gives_one_line_when_it_starts_and_one_when_it_ends(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    profiles = build_profiles(settings)
    outage = Outage(failures=6)
    follower = Follower("relay", outage, 10, profiles.recorder, max_pause=0.01)
    follower.start()
    try:
        assert outage.worked.wait(30)
    finally:
        follower.stop()
        profiles.close()
    lines = [r for r in caplog.records if r.name == "metaledger.relay"]
    assert [r.getMessage() for r in lines] == [
        "relay failed, retrying: ConnectionError('broker unreachable')",
        lines[1].getMessage(),
    ]
    assert lines[1].getMessage().startswith("relay recovered after 6 failed attempts in ")
    assert all(r.exc_info is None for r in lines)


class Steps:
    """A step that reads the store's head, as the projector and relay do, and counts itself."""

    def __init__(self, profiles: UserProfiles) -> None:
        self.profiles = profiles
        self.done = 0

    def __call__(self) -> int:
        self.profiles.recorder.max_notification_id()
        self.done += 1
        return 0


def test_a_follower_on_postgresql_keeps_following_after_the_server_went_away_and_came_back(
    tmp_path: Path,
) -> None:
    postgres = PostgresServer()
    postgres.start()
    profiles = build_profiles(Settings(data_dir=tmp_path, database_url=postgres.url()))
    steps = Steps(profiles)
    follower = Follower("search-projector", steps, 10, profiles.recorder, max_pause=0.1)
    follower.start()
    try:
        wait_until(lambda: steps.done > 0)
        postgres.halt()
        time.sleep(1)  # the follower waits on the server's notifications, which fail now
        postgres.resume()
        resumed_at = steps.done
        wait_until(lambda: steps.done > resumed_at + 3)
    finally:
        follower.stop()
        profiles.close()
        postgres.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
