"""The consumer toolkit and the entitlements consumer against a real broker."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from metaledger.api import stores
from metaledger.api.settings import Settings
from metaledger.consumers.database import Transaction
from metaledger.consumers.entitlements import EntitlementsHandler, Grant, current, history
from metaledger.consumers.messages import ChangeEvent
from metaledger.consumers.runner import ConsumerConfig, ConsumerRunner
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import ACTOR, create, patch
from tests.support import processes
from tests.support.stream import at_least, produce, read_topic


class Recorder:
    """Counts what the runner handled, for tests to wait on."""

    def __init__(self) -> None:
        self.handled: list[ChangeEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: ChangeEvent) -> None:
        with self._changed:
            self.handled.append(event)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.handled) >= count, timeout)


class FailingFor(EntitlementsHandler):
    """Fails every time for one user: a handler bug that retries cannot fix."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    def handle(self, event: ChangeEvent, tx: Transaction) -> None:
        if event.subject == self.user_id:
            raise RuntimeError("downstream refused")
        super().handle(event, tx)


@contextmanager
def consuming(
    settings: Settings, handler: EntitlementsHandler, recorder: Recorder
) -> Iterator[ConsumerRunner]:
    assert settings.kafka_bootstrap_servers is not None
    runner = ConsumerRunner(
        ConsumerConfig(settings.kafka_bootstrap_servers, settings.kafka_topic, retry_pause=0.01),
        handler,
        stores.consumer_database(settings.store, "entitlements.sqlite3"),
        on_handled=recorder,
    )
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(60)


def entitlements_of(settings: Settings, user_id: str) -> tuple[object, list[Grant]]:
    database = stores.consumer_database(settings.store, "entitlements.sqlite3")
    try:
        with database.transaction() as tx:
            EntitlementsHandler().setup(tx)  # the consumer may not have made its tables yet
            return current(tx, user_id), history(tx, user_id)
    finally:
        database.close()


def test_entitlements_keeps_roles_and_plan_with_grants_and_revocations(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "ent@example.com", app_metadata={"plan": "free", "roles": ["a"]})
    patch(profiles, user_id, app_metadata={"plan": "pro", "roles": ["a", "b"]})
    patch(profiles, user_id, app_metadata={"roles": ["b"]})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(3)

    held, grants = entitlements_of(stream_settings, user_id)
    assert held is not None
    assert (held.roles, held.plan) == (("b",), "pro")  # type: ignore[attr-defined]
    assert [(g.kind, g.action, g.value) for g in grants] == [
        ("plan", "granted", "free"),
        ("role", "granted", "a"),
        ("plan", "revoked", "free"),
        ("plan", "granted", "pro"),
        ("role", "granted", "b"),
        ("role", "revoked", "a"),
    ]


def test_entitlements_ignores_changes_to_anything_else(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "other@example.com")
    patch(profiles, user_id, user_metadata={"theme": "dark"})
    patch(profiles, user_id, app_metadata={"flags": {"beta": True}})
    marker = create(profiles, "marker@example.com", app_metadata={"plan": "free"})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(1)

    assert [event.subject for event in recorder.handled] == [marker]
    assert entitlements_of(stream_settings, user_id) == (None, [])


def test_user_deletion_revokes_everything_the_user_held(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "gone@example.com", app_metadata={"plan": "pro", "roles": ["x"]})
    profiles.delete_user(user_id, ACTOR)
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(2)

    held, grants = entitlements_of(stream_settings, user_id)
    assert held is None
    assert [(g.action, g.value) for g in grants][-2:] == [("revoked", "pro"), ("revoked", "x")]


def test_an_event_delivered_twice_has_one_effect(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "twice@example.com", app_metadata={"roles": ["r"]})
    relay.catch_up()
    assert stream_settings.kafka_bootstrap_servers is not None
    original = read_topic(
        stream_settings.kafka_bootstrap_servers, stream_settings.kafka_topic, at_least(1)
    )[0]
    produce(
        stream_settings.kafka_bootstrap_servers,
        stream_settings.kafka_topic,
        original.key,
        original.value,
    )
    marker = create(profiles, "after-twice@example.com", app_metadata={"roles": ["m"]})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(3)
        time.sleep(0.5)

    assert [event.subject for event in recorder.handled].count(user_id) == 2  # delivered twice
    assert marker in [event.subject for event in recorder.handled]
    _, grants = entitlements_of(stream_settings, user_id)
    assert [(g.action, g.value) for g in grants] == [("granted", "r")]  # applied once


def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_consumer_moves_on(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    assert stream_settings.kafka_bootstrap_servers is not None
    relay.publisher.ensure_topic()
    produce(
        stream_settings.kafka_bootstrap_servers, stream_settings.kafka_topic, b"k", b"{not json"
    )
    user_id = create(profiles, "next@example.com", app_metadata={"plan": "free"})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder) as runner:
        recorder.wait_for(1)
        dead_letter_topic = runner.dead_letter_topic

    parked = read_topic(stream_settings.kafka_bootstrap_servers, dead_letter_topic, at_least(1))
    assert [(m.key, m.value) for m in parked] == [(b"k", b"{not json")]
    assert dict(parked[0].headers)["dlq-consumer"] == b"entitlements"
    assert recorder.handled[0].subject == user_id


def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    doomed = create(profiles, "doomed@example.com", app_metadata={"plan": "free"})
    fine = create(profiles, "fine@example.com", app_metadata={"plan": "free"})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, FailingFor(doomed), recorder) as runner:
        recorder.wait_for(1)
        dead_letter_topic = runner.dead_letter_topic

    assert stream_settings.kafka_bootstrap_servers is not None
    parked = read_topic(stream_settings.kafka_bootstrap_servers, dead_letter_topic, at_least(1))
    assert [m.key for m in parked] == [doomed.encode()]
    assert b"downstream refused" in dict(parked[0].headers)["dlq-error"]
    assert [event.subject for event in recorder.handled] == [fine]
    assert entitlements_of(stream_settings, doomed) == (None, [])


@pytest.mark.parametrize("database_url", [None])
def test_sigterm_stops_the_consumer_after_committing_its_offsets(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay, tmp_path: Path
) -> None:
    user_id = create(profiles, "term@example.com", app_metadata={"plan": "free"})
    relay.catch_up()
    consumer = processes.start(stream_settings, "consume", "entitlements", log=tmp_path / "c.log")
    try:
        deadline = time.monotonic() + 60
        while entitlements_of(stream_settings, user_id)[0] is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(60) == 0
    finally:
        consumer.kill()

    admin = KafkaAdminClient(bootstrap_servers=stream_settings.kafka_bootstrap_servers)
    try:
        offsets = admin.list_group_offsets("metaledger.entitlements")["metaledger.entitlements"]
    finally:
        admin.close()
    committed = sum(
        o.offset
        for tp, o in offsets.items()
        if tp.topic == stream_settings.kafka_topic and o.offset > 0
    )
    assert committed == 1


@pytest.mark.parametrize("database_url", [None])
def test_tail_prints_the_events_of_one_user(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    create(profiles, "someone@example.com")
    user_id = create(profiles, "tail@example.com", app_metadata={"plan": "free"})
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    relay.catch_up()

    result = processes.run(
        stream_settings, "tail", "--from-beginning", "--user", user_id, "--limit", "2"
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert len(lines) == 2
    assert "user.created" in lines[0]
    assert user_id in lines[0]
    assert 'app_metadata.plan: "free" → "pro"' in lines[1]
