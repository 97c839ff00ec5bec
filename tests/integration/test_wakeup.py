"""A follower of a SQLite event store wakes when a commit writes the store's WAL, not at the end
of its polling interval."""

from __future__ import annotations

import threading

import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.projections.wakeup import wakeup_for
from tests.support.users import create_user

ACTOR = Actor(kind="client", id="wakeup-test", grant="client-credentials")
AN_HOUR = 3600.0


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_a_commit_to_the_event_store_wakes_a_follower_waiting_out_a_long_interval(
    container: Container,
) -> None:
    wakeup = wakeup_for(container.profiles.recorder, AN_HOUR)
    woken = threading.Event()

    def follower() -> None:
        wakeup.wait()
        woken.set()

    waiting = threading.Thread(target=follower, daemon=True)
    waiting.start()
    create_user(container.profiles, ACTOR, user_id="auth0|woken")
    try:
        # Bounded so that a follower that sleeps out its hour fails the test, not the run.
        assert woken.wait(timeout=60)
    finally:
        wakeup.close()
