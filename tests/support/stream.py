"""Reading a topic back in tests: every message, from the start, without a consumer group."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from metaledger.api.settings import Settings
from tests.support.kafka_broker import KafkaBroker


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def event(self) -> dict[str, Any]:
        assert self.value is not None
        parsed: dict[str, Any] = orjson.loads(self.value)
        return parsed


def unique_topic(prefix: str = "users") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def publishing(settings: Settings, broker: KafkaBroker) -> Settings:
    """The settings, publishing to `broker` on a topic of their own."""
    return settings.replace(
        kafka_bootstrap_servers=broker.bootstrap_servers, kafka_topic=unique_topic()
    )


def read_topic(
    bootstrap_servers: str,
    topic: str,
    until: Callable[[list[Message]], bool],
    timeout: float = 60.0,
) -> list[Message]:
    """All messages of `topic` from its start, once `until(messages)` holds (or at timeout)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
    try:
        deadline = time.monotonic() + timeout
        partitions: list[TopicPartition] = []
        while not partitions and time.monotonic() < deadline:
            found = consumer.partitions_for_topic(topic)
            partitions = [TopicPartition(topic, number) for number in sorted(found or ())]
            if not partitions:
                time.sleep(0.1)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        messages: list[Message] = []
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                messages.extend(
                    Message(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in records
                )
            if until(messages):
                break
        return messages
    finally:
        consumer.close(autocommit=False)


def at_least(count: int) -> Callable[[list[Message]], bool]:
    return lambda messages: len(messages) >= count


def every_position_up_to(last: int) -> Callable[[list[Message]], bool]:
    """Every log position 1..`last` has arrived, however many duplicates came with them."""
    return lambda messages: (
        len({event["metaledgerposition"] for event in events_of(messages)}) >= last
    )


def events_of(messages: list[Message]) -> list[dict[str, Any]]:
    """The CloudEvents, in log order (tombstones left out)."""
    events = [m.event for m in messages if m.value is not None]
    return sorted(events, key=lambda event: event["metaledgerposition"])


def produce(bootstrap_servers: str, topic: str, key: bytes | None, value: bytes | None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close(timeout=5)
