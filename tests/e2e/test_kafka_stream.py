"""End to end: writes over HTTP, the relay, a real broker, and the entitlements consumer."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler, current, history
from metaledger.consumers.messages import ChangeEvent
from metaledger.consumers.runner import ConsumerConfig, ConsumerRunner
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import LIVE_BATCH_SIZE
from tests.support import processes
from tests.support.backlog import write_backlog
from tests.support.kafka_broker import KafkaBroker
from tests.support.stream import publishing
from tests.support.users import PASSWORD

ENTITLEMENTS_FILE = "entitlements.sqlite3"
# What each backlog user's plan goes through (tests.support.backlog).
BACKLOG_PLAN_CHANGES = [
    ("free", "pro"),
    ("pro", "free"),
    ("free", "enterprise"),
    ("enterprise", "pro"),
    ("pro", "free"),
]


@pytest.fixture
def settings(settings: Settings, kafka_broker: KafkaBroker) -> Settings:
    """The server publishes: the relay runs beside the API, on a topic of this test's own."""
    return publishing(settings, kafka_broker)


class Consumer:
    """The entitlements consumer in a thread, with what it handled."""

    def __init__(self, settings: Settings) -> None:
        assert settings.kafka_bootstrap_servers is not None
        self.handled: list[ChangeEvent] = []
        self.settings = settings
        self.runner = ConsumerRunner(
            ConsumerConfig(settings.kafka_bootstrap_servers, settings.kafka_topic),
            EntitlementsHandler(),
            stores.consumer_database(settings.store, ENTITLEMENTS_FILE),
            on_handled=self.handled.append,
        )
        self.thread = threading.Thread(target=self.runner.run)

    def wait_for(self, count: int, timeout: float = 120.0) -> None:
        """Until `count` distinct events were handled (a redelivered one counts once)."""
        deadline = time.monotonic() + timeout
        while len({event.id for event in self.handled}) < count:
            assert time.monotonic() < deadline, f"handled {len(self.handled)} of {count}"
            time.sleep(0.05)

    def table(self, user_id: str) -> tuple[object, list[tuple[str, str, str]]]:
        database = stores.consumer_database(self.settings.store, ENTITLEMENTS_FILE)
        try:
            with database.transaction() as tx:
                grants = [(g.kind, g.action, g.value) for g in history(tx, user_id)]
                return current(tx, user_id), grants
        finally:
            database.close()


@pytest.fixture
def consumer(settings: Settings) -> Iterator[Consumer]:
    running = Consumer(settings)
    running.thread.start()
    yield running
    running.runner.stop()
    running.thread.join(60)


def test_patch_of_app_metadata_reaches_the_consumer_as_one_event_with_its_diff(
    http: httpx.Client, consumer: Consumer
) -> None:
    created = http.post(
        "/api/v2/users",
        json={
            "connection": "Username-Password-Authentication",
            "password": PASSWORD,
            "email": "kai@example.com",
            "app_metadata": {"plan": "free", "roles": ["viewer"]},
        },
    )
    user_id = created.json()["user_id"]
    consumer.wait_for(1)

    response = http.patch(
        f"/api/v2/users/{user_id}",
        json={"app_metadata": {"plan": "pro", "roles": ["viewer", "editor"]}},
    )
    consumer.wait_for(2)

    assert response.status_code == 200
    update = consumer.handled[1]
    assert (update.type, update.event_name, update.subject) == (
        "user.updated",
        "AppMetadataPatched",
        user_id,
    )
    assert update.changes == {
        "app_metadata.plan": {"old": "free", "new": "pro"},
        "app_metadata.roles": {"old": ["viewer"], "new": ["viewer", "editor"]},
    }
    held, grants = consumer.table(user_id)
    assert held is not None
    assert (held.roles, held.plan) == (("editor", "viewer"), "pro")  # type: ignore[attr-defined]
    assert grants[-3:] == [
        ("plan", "revoked", "free"),
        ("plan", "granted", "pro"),
        ("role", "granted", "editor"),
    ]


@pytest.mark.parametrize("database_url", [None])
def test_relay_killed_mid_batch_leaves_the_consumer_effects_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    relay_settings = settings.replace(embedded_workers=False)
    profiles: UserProfiles = build_profiles(relay_settings)
    end = write_backlog(profiles, users=500, events_per_user=10)
    profiles.close()
    position = stores.relay_position(settings.store)
    relay = processes.start(relay_settings, "relay", log=tmp_path / "relay.log")
    try:
        while position.current() < LIVE_BATCH_SIZE:
            time.sleep(0.01)
        relay.send_signal(signal.SIGKILL)
        relay.wait(30)
    finally:
        relay.kill()
    assert position.current() < end

    relay = processes.start(relay_settings, "relay", log=tmp_path / "relay.log")
    consumer = Consumer(relay_settings)
    consumer.thread.start()
    try:
        # creation + 5 plan changes per user: what the consumer reacts to
        consumer.wait_for(500 * 6, timeout=240)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(60)
        consumer.runner.stop()
        consumer.thread.join(60)
    position.close()

    for number in (0, 250, 499):
        held, grants = consumer.table(f"auth0|backlog{number:017d}")
        assert held is not None
        assert held.plan == "free"  # type: ignore[attr-defined]
        assert grants == [
            ("plan", "granted", "free"),
            ("role", "granted", "viewer"),
            *[
                step
                for old, new in BACKLOG_PLAN_CHANGES
                for step in (("plan", "revoked", old), ("plan", "granted", new))
            ],
        ]
