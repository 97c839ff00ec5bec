"""Sends a batch of messages and returns only once the broker acknowledged every one.

The producer is idempotent with `acks=all`: a retried send is not written twice, and each
partition keeps the order of sends, so the order of one user's events (one key) survives
retries. A batch that fails is sent again whole by the relay, on a new producer (a new
producer id, so no stale sequence numbers), which is where duplicates can come from.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from projections.cloudevents import CONTENT_TYPE
from projections.relay.topics import TopicSpec, ensure_topic

log = logging.getLogger("metaledger.relay")

HEADERS = [("content-type", CONTENT_TYPE.encode())]
# Throughput: the producer keeps one request in flight per partition (idempotence), so
# batches are as large as a request may be (the broker takes up to 1 MiB): while more than one
# batch waits for a partition, every send wakes the producer's I/O thread, which costs more
# than the send. Every publish ends with a flush, which sends at once whatever lingers: the
# linger only keeps the producer from sending small batches while a publish is queued.
BATCH_BYTES = 1_000_000
LINGER_MS = 50
# A broker that does not answer within this fails the batch; the relay then retries it.
DELIVERY_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT_MS = 10_000
PARTITION_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class Record:
    """One Kafka message: value None is a tombstone."""

    key: bytes
    value: bytes | None


class Publisher:
    def __init__(self, bootstrap_servers: str, topic: TopicSpec) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._producer: KafkaProducer | None = None
        self._partitions: dict[bytes, int] = {}
        self._partition_count = 0

    def ensure_topic(self) -> None:
        ensure_topic(self.bootstrap_servers, self.topic, client_id="metaledger-relay")

    def publish(self, records: Iterable[Record]) -> int:
        """Sends the records in order, each as soon as it comes (the producer sends full
        batches while the rest are made); returns once the broker acknowledged every one, and
        raises unless it did. Returns how many were sent."""
        producer = self._producer or self._connect()
        try:
            name = self.topic.name
            partition = self._partitioner(producer)
            futures = [
                producer.send(
                    name,
                    key=record.key,
                    value=record.value,
                    headers=HEADERS if record.value else [],
                    partition=partition(record.key),
                )
                for record in records
            ]
            producer.flush(timeout=(DELIVERY_TIMEOUT_MS + REQUEST_TIMEOUT_MS) / 1000)
            for future in futures:
                future.get(timeout=0)
        except BaseException:
            self._discard()
            raise
        return len(futures)

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None

    def _connect(self) -> KafkaProducer:
        self._producer = KafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id="metaledger-relay",
            acks="all",
            enable_idempotence=True,
            linger_ms=LINGER_MS,
            batch_size=BATCH_BYTES,
            delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )
        return self._producer

    def _partitioner(self, producer: KafkaProducer) -> Callable[[bytes], int]:
        """The default partitioner's choice (murmur2 of the key, as the Java client), computed
        once per user: in pure Python the hash costs more than the rest of a send."""
        count = len(producer.partitions_for(self.topic.name))
        if count != self._partition_count:
            self._partitions.clear()
            self._partition_count = count
        partitions = self._partitions

        def partition(key: bytes) -> int:
            found = partitions.get(key)
            if found is None:
                if len(partitions) >= PARTITION_CACHE_SIZE:
                    partitions.clear()
                found = partitions[key] = (murmur2(key) & 0x7FFFFFFF) % count
            return found

        return partition

    def _discard(self) -> None:
        """Drops a producer whose sends failed: unsent messages are abandoned, not retried."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=0)
            self._producer = None
