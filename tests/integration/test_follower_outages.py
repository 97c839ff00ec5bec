"""A follower of the event log logs an outage once when it starts and once when it ends."""

from __future__ import annotations

import logging
import threading

import pytest

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.projections.follower import Follower


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
