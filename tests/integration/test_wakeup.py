"""A follower wakes when a commit reaches the event store (SQLite: its WAL is written; PostgreSQL:
a notification), not at the end of its polling interval."""

from __future__ import annotations

import threading

import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.projections.wakeup import PostgresNotifications, wakeup_for
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


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True, ids=["postgres"])
def test_a_commit_to_the_postgres_event_store_wakes_a_follower_waiting_out_a_long_interval(
    container: Container,
) -> None:
    wakeup = wakeup_for(container.profiles.recorder, AN_HOUR)
    woken = threading.Event()

    def follower() -> None:
        wakeup.wait()
        woken.set()

    waiting = threading.Thread(target=follower, daemon=True)
    waiting.start()
    create_user(container.profiles, ACTOR, user_id="auth0|woken-by-notify")
    try:
        assert woken.wait(timeout=60)
    finally:
        wakeup.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True, ids=["postgres"])
def test_one_wait_drains_the_notifications_of_commits_made_while_the_follower_was_busy(
    container: Container,
) -> None:
    wakeup = wakeup_for(container.profiles.recorder, AN_HOUR)
    assert isinstance(wakeup, PostgresNotifications)
    try:
        for number in range(3):  # three commits while no one waits: three notifications
            create_user(container.profiles, ACTOR, user_id=f"auth0|burst-{number}")
        wakeup.wait()
        # The step after this wait reads all three commits: none is left to wake the next.
        assert wakeup.drain() == 0
    finally:
        wakeup.close()
