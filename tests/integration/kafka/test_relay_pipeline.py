"""The relay's batch in flight and its producer in a child process, against the real broker
(and, to make the broker refuse one batch, a publisher that fails on purpose)."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest

from metaledger.api import stores
from metaledger.api.bootstrap import relay_config
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.cloudevents import Origin
from metaledger.projections.relay.publisher import ProducerProcess, PublishError, Record, Sending
from metaledger.projections.relay.relay import Relay
from metaledger.projections.relay.service import build_relay
from metaledger.projections.relay.topics import TopicSpec
from tests.integration.kafka.conftest import create, patch
from tests.support.stream import at_least, events_of, read_topic, unique_topic

pytestmark = pytest.mark.parametrize("database_url", [None])


@pytest.fixture
def producer_process(stream_settings: Settings) -> Iterator[ProducerProcess]:
    assert stream_settings.kafka_bootstrap_servers is not None
    publisher = ProducerProcess(
        stream_settings.kafka_bootstrap_servers, TopicSpec(unique_topic("process"), 3, 1)
    )
    publisher.ensure_topic()
    yield publisher
    publisher.close()


def test_a_relay_producing_in_a_child_process_publishes_every_event_in_order(
    stream_settings: Settings, profiles: UserProfiles
) -> None:
    users = [create(profiles, f"child{n}@example.com") for n in range(5)]
    for round_ in range(4):
        for user_id in users:
            patch(profiles, user_id, app_metadata={"round": round_})
    config = relay_config(stream_settings)
    assert config is not None
    # Batches of 3: several full batches, each sent while the next one is made.
    relay = build_relay(
        dataclasses.replace(config, producer_process=True, batch_size=3),
        profiles,
        stores.relay_position(stream_settings.store),
    )
    relay.publisher.ensure_topic()
    try:
        published = relay.catch_up()
        position = relay.position.current()
    finally:
        relay.close()
    assert stream_settings.kafka_bootstrap_servers is not None

    messages = read_topic(
        stream_settings.kafka_bootstrap_servers, stream_settings.kafka_topic, at_least(25)
    )

    assert published == 25
    assert position == profiles.recorder.max_notification_id()
    versions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for event in events_of(messages):
        versions[event["subject"]].append((event["metaledgerposition"], event["metaledgerversion"]))
    assert {user_id: [v for _, v in sorted(found)] for user_id, found in versions.items()} == {
        user_id: [1, 2, 3, 4, 5] for user_id in users
    }


def test_a_producer_process_that_dies_fails_its_batch_and_the_next_gets_a_new_one(
    stream_settings: Settings, producer_process: ProducerProcess
) -> None:
    assert producer_process.send([Record(b"user", b'"first"')]).wait() == 1
    pid = producer_process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)

    with pytest.raises(PublishError):
        producer_process.send([Record(b"user", b'"lost"')]).wait()
    assert producer_process.send([Record(b"user", b'"second"')]).wait() == 1
    assert producer_process.pid not in (None, pid)
    assert stream_settings.kafka_bootstrap_servers is not None

    messages = read_topic(
        stream_settings.kafka_bootstrap_servers, producer_process.topic.name, at_least(2)
    )
    assert [m.value for m in messages] == [b'"first"', b'"second"']


class RefusesOneBatch:
    """Acknowledges every batch but the `refused`-th one sent (counting from 1)."""

    def __init__(self, refused: int) -> None:
        self.refused = refused
        self.batches: list[list[Record]] = []

    def ensure_topic(self) -> bool:
        return False

    def send(self, records: Iterable[Record]) -> Sending:
        self.batches.append(list(records))
        return _Answer(len(self.batches) != self.refused, len(self.batches[-1]))

    def close(self) -> None:
        pass


@dataclasses.dataclass
class _Answer:
    acknowledged: bool
    count: int

    def wait(self) -> int:
        if not self.acknowledged:
            raise PublishError("refused")
        return self.count


def test_a_refused_batch_in_flight_keeps_the_position_and_is_sent_again(
    stream_settings: Settings, profiles: UserProfiles
) -> None:
    for number in range(9):
        create(profiles, f"refused{number}@example.com")
    publisher = RefusesOneBatch(refused=2)
    relay = Relay(
        profiles,
        stores.relay_position(stream_settings.store),
        publisher,
        Origin.of("http://pipeline.test/", "pipeline"),
        batch_size=3,
    )
    try:
        relay.publish_batch()  # batch 1 in flight
        relay.publish_batch()  # batch 1 acknowledged and recorded, batch 2 in flight
        with pytest.raises(PublishError):
            relay.publish_batch()  # batch 2 refused
        held = relay.position.current()
        relay.catch_up()
        position = relay.position.current()
    finally:
        relay.close()

    def positions(batch: list[Record]) -> list[int]:
        return [m["metaledgerposition"] for m in map(_event, batch)]

    first, refused, *rest = publisher.batches
    assert held == positions(first)[-1]
    assert rest[0] == refused  # sent again, the same messages
    assert sorted({p for batch in publisher.batches for p in positions(batch)}) == list(
        range(1, 10)
    )
    assert position == 9


def _event(record: Record) -> dict[str, Any]:
    assert record.value is not None
    parsed: dict[str, Any] = orjson.loads(record.value)
    return parsed
