"""The relay against a real broker: position, topic, crashes, outages and order."""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from metaledger.api import stores
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import LIVE_BATCH_SIZE, Relay
from metaledger.projections.relay.service import RelayService
from tests.integration.kafka.conftest import create, patch
from tests.support import processes
from tests.support.backlog import write_backlog
from tests.support.kafka_broker import KafkaBroker
from tests.support.stream import (
    at_least,
    events_of,
    every_position_up_to,
    read_topic,
    unique_topic,
)


def wait_until(condition: object, timeout: float = 60.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_relay_creates_its_topic_with_the_configured_partitions(
    stream_settings: Settings, relay: Relay
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=stream_settings.kafka_bootstrap_servers)
    try:
        topics = admin.describe_topics([stream_settings.kafka_topic])
    finally:
        admin.close()

    assert len(topics[0]["partitions"]) == stream_settings.kafka_partitions


def test_position_is_the_last_event_published(profiles: UserProfiles, relay: Relay) -> None:
    user_id = create(profiles, "pos@example.com")
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    assert relay.lag().events == 2

    published = relay.catch_up()

    assert published == 2
    assert relay.position.current() == profiles.recorder.max_notification_id()
    assert relay.lag().events == 0


@pytest.mark.parametrize("database_url", [None])
def test_relay_keeps_its_position_in_a_file_of_its_own(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    create(profiles, "file@example.com")
    relay.catch_up()

    position = stores.relay_position(stream_settings.store)
    assert position.current() == profiles.recorder.max_notification_id()
    assert (stream_settings.data_dir / "relay.sqlite3").is_file()
    position.close()


def test_each_user_keeps_one_partition_and_the_order_of_their_events(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    users = [create(profiles, f"order{n}@example.com") for n in range(12)]
    for round_ in range(6):
        for user_id in users:
            patch(profiles, user_id, app_metadata={"round": round_})
    relay.catch_up()
    assert stream_settings.kafka_bootstrap_servers is not None

    messages = read_topic(
        stream_settings.kafka_bootstrap_servers, stream_settings.kafka_topic, at_least(12 * 7)
    )

    partitions: dict[str, set[int]] = defaultdict(set)
    versions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for message in messages:
        event = message.event
        partitions[event["subject"]].add(message.partition)
        versions[event["subject"]].append((message.offset, event["metaledgerversion"]))
    assert all(len(found) == 1 for found in partitions.values())
    assert len({next(iter(found)) for found in partitions.values()}) > 1  # spread over partitions
    for user_id in users:
        assert [version for _, version in sorted(versions[user_id])] == list(range(1, 8))


@pytest.mark.parametrize("database_url", [None])
def test_relay_killed_mid_batch_publishes_every_event_after_a_restart(
    stream_settings: Settings, profiles: UserProfiles, tmp_path: Path
) -> None:
    end = write_backlog(profiles, users=2000, events_per_user=10)
    log = tmp_path / "relay.log"
    position = stores.relay_position(stream_settings.store)

    relay = processes.start(stream_settings, "relay", log=log)
    try:
        wait_until(lambda: position.current() >= 2 * LIVE_BATCH_SIZE, timeout=120)
        relay.send_signal(signal.SIGKILL)
        relay.wait(30)
    finally:
        relay.kill()
    stopped_at = position.current()
    assert stopped_at < end, "the relay finished before it was killed"

    relay = processes.start(stream_settings, "relay", log=log)
    try:
        wait_until(lambda: position.current() == end, timeout=180)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(60)
    position.close()
    assert stream_settings.kafka_bootstrap_servers is not None
    messages = read_topic(
        stream_settings.kafka_bootstrap_servers,
        stream_settings.kafka_topic,
        every_position_up_to(end),
    )

    counts = Counter(event["metaledgerposition"] for event in events_of(messages))
    assert set(counts) == set(range(1, end + 1))
    duplicates = sum(count - 1 for count in counts.values())
    assert duplicates <= LIVE_BATCH_SIZE
    assert relay.returncode == 0


@pytest.mark.parametrize("database_url", [None])
def test_broker_stopped_and_restarted_while_writes_continue_loses_nothing(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay, kafka_broker: KafkaBroker
) -> None:
    service = RelayService(relay)
    service.start()
    written = []
    try:
        written.append(create(profiles, "before@example.com"))
        wait_until(lambda: relay.lag().events == 0)

        kafka_broker.stop()
        try:
            held = relay.position.current()
            for number in range(20):
                written.append(create(profiles, f"during{number}@example.com"))
            time.sleep(1)  # the relay has tried to publish them by now
            assert relay.position.current() == held
            assert relay.lag().events == 20
        finally:
            kafka_broker.start()
        written.extend(create(profiles, f"after{n}@example.com") for n in range(5))

        wait_until(lambda: relay.lag().events == 0, timeout=120)
        assert held < relay.position.current()
    finally:
        service.stop()
    assert stream_settings.kafka_bootstrap_servers is not None
    messages = read_topic(
        stream_settings.kafka_bootstrap_servers,
        stream_settings.kafka_topic,
        lambda found: {m.event["subject"] for m in found} >= set(written),
    )

    assert {event["subject"] for event in events_of(messages)} == set(written)


@pytest.mark.parametrize("database_url", [None])
def test_a_topic_the_broker_lost_is_created_again_and_publishing_goes_on(
    stream_settings: Settings,
    profiles: UserProfiles,
    relay: Relay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    servers, topic = stream_settings.kafka_bootstrap_servers or "", stream_settings.kafka_topic
    service = RelayService(relay)
    service.start()
    try:
        create(profiles, "before@example.com")
        wait_until(lambda: relay.lag().events == 0)
        published = relay.position.current()
        admin = KafkaAdminClient(bootstrap_servers=servers)
        try:
            admin.delete_topics([topic])
            wait_until(lambda: topic not in admin.list_topics())
        finally:
            admin.close()

        after = [create(profiles, f"after{number}@example.com") for number in range(3)]

        wait_until(lambda: relay.lag().events == 0, timeout=120)
    finally:
        service.stop()
    messages = read_topic(
        servers, topic, lambda found: {m.event["subject"] for m in found} >= set(after)
    )
    assert {event["subject"] for event in events_of(messages)} == set(after)
    said = [r.getMessage() for r in caplog.records if "created again" in r.getMessage()]
    assert len(said) == 1
    assert f"up to position {published}" in said[0]
    assert "metaledger relay --from 0" in said[0]


@pytest.mark.parametrize("database_url", [None])
def test_relay_from_zero_publishes_every_event_again_to_an_empty_topic(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay, tmp_path: Path
) -> None:
    written = [create(profiles, f"again{number}@example.com") for number in range(3)]
    relay.catch_up()
    # A new cluster: the topic is empty while the relay's position says all was published.
    moved = stream_settings.replace(kafka_topic=unique_topic())

    again = processes.start(moved, "relay", "--from", "0", log=tmp_path / "relay.log")
    try:
        messages = read_topic(
            moved.kafka_bootstrap_servers or "",
            moved.kafka_topic,
            lambda found: {m.event["subject"] for m in found} >= set(written),
        )
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(60)
    assert {event["subject"] for event in events_of(messages)} == set(written)


@pytest.mark.parametrize("database_url", [None])
def test_relay_from_a_position_past_the_log_is_refused(
    stream_settings: Settings, profiles: UserProfiles
) -> None:
    create(profiles, "only@example.com")
    result = processes.run(stream_settings, "relay", "--from", "5")
    assert result.returncode == 2
    assert "--from must be between 0 and 1" in result.stderr
