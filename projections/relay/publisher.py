"""Sends a batch of messages and says once the broker acknowledged every one.

The producer is idempotent with `acks=all`: a retried send is not written twice, and each
partition keeps the order of sends, so the order of one user's events (one key) survives
retries. A batch that fails is sent again whole by the relay, on a new producer (a new
producer id, so no stale sequence numbers), which is where duplicates can come from.

Sending is split from waiting (`send` returns a `Sending` to `wait` on), so the relay can make
the next batch while the broker takes the last one. `ProducerProcess` runs the producer in a
child process: kafka-python does a send's work in Python, and in the relay's own process it
would share one core (the GIL) with reading, decrypting and rendering the events.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from metaledger.projections.cloudevents import CONTENT_TYPE
from metaledger.projections.relay.topics import TopicSpec, ensure_topic

log = logging.getLogger("metaledger.relay")

HEADERS = [("content-type", CONTENT_TYPE.encode())]
# Throughput: the producer keeps one request in flight per partition (idempotence), so
# batches are as large as a request may be (the broker takes up to 1 MiB): while more than one
# batch waits for a partition, every send wakes the producer's I/O thread, which costs more
# than the send. Every batch ends with a flush, which sends at once whatever lingers: the
# linger only keeps the producer from sending small batches while a batch is being sent.
BATCH_BYTES = 1_000_000
LINGER_MS = 50
# A broker that does not answer within this fails the batch; the relay then retries it.
DELIVERY_TIMEOUT_MS = 30_000
REQUEST_TIMEOUT_MS = 10_000
# A send waits this long for the topic's metadata (60 s by default): a topic the broker lost
# then fails the batch soon, and the relay creates the topic again.
MAX_BLOCK_MS = 10_000
FLUSH_TIMEOUT_SECONDS = (DELIVERY_TIMEOUT_MS + REQUEST_TIMEOUT_MS) / 1000
PARTITION_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message: value None is a tombstone."""

    key: bytes
    value: bytes | None


class PublishError(RuntimeError):
    """The broker did not acknowledge a whole batch."""


class Sending(Protocol):
    def wait(self) -> int:
        """Returns once the broker acknowledged every message of the batch (how many were
        sent); raises unless it did."""
        ...


class BatchPublisher(Protocol):
    def ensure_topic(self) -> bool:
        """Creates the topic unless it exists; True when it had to be created."""
        ...

    def send(self, records: Iterable[Record]) -> Sending:
        """Starts sending the records, in order."""
        ...

    def close(self) -> None: ...


class Publisher:
    """The producer in this process."""

    def __init__(self, bootstrap_servers: str, topic: TopicSpec) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._producer: KafkaProducer | None = None
        self._partitions: dict[bytes, int] = {}
        self._partition_count = 0

    def ensure_topic(self) -> bool:
        return ensure_topic(self.bootstrap_servers, self.topic, client_id="metaledger-relay")

    def send(self, records: Iterable[Record]) -> Sending:
        """Sends each record as soon as it comes (the producer sends full batches while the
        rest are made)."""
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
        except BaseException:
            self._discard()
            raise
        return _Flush(self, producer, futures)

    def publish(self, records: Iterable[Record]) -> int:
        """Sends the records and waits for the broker's acknowledgement of every one."""
        return self.send(records).wait()

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
            max_block_ms=MAX_BLOCK_MS,
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


@dataclass
class _Flush:
    publisher: Publisher
    producer: KafkaProducer
    futures: list[Any]  # kafka-python's FutureRecordMetadata

    def wait(self) -> int:
        try:
            self.producer.flush(timeout=FLUSH_TIMEOUT_SECONDS)
            for future in self.futures:
                future.get(timeout=0)
        except BaseException:
            self.publisher._discard()
            raise
        return len(self.futures)


class ProducerProcess:
    """A `Publisher` in a child process of its own, fed batch by batch through a pipe.

    One batch is in the child at a time, so the order of batches is the order of sends. The
    child ends when the pipe closes, also when this process is killed.
    """

    def __init__(self, bootstrap_servers: str, topic: TopicSpec) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._connection: Connection | None = None
        self._process: BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self._process.pid if self._process is not None else None

    def ensure_topic(self) -> bool:
        return ensure_topic(self.bootstrap_servers, self.topic, client_id="metaledger-relay")

    def send(self, records: Iterable[Record]) -> Sending:
        connection = self._connection or self._start()
        batch = [(record.key, record.value) for record in records]
        try:
            connection.send(batch)
        except (OSError, EOFError) as error:
            self._stop()
            raise PublishError(f"the producer process is gone: {error!r}") from error
        return _Reply(self, connection, len(batch))

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.send(None)
        self._stop()

    def _start(self) -> Connection:
        # Spawned, not forked: this process runs threads (the API, the store's pools).
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_produce,
            args=(theirs, self.bootstrap_servers, self.topic),
            name="metaledger-relay-producer",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._connection, self._process = ours, process
        return ours

    def _stop(self) -> None:
        connection, process = self._connection, self._process
        self._connection = self._process = None
        if connection is not None:
            connection.close()
        if process is not None:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)


@dataclass
class _Reply:
    owner: ProducerProcess
    connection: Connection
    count: int

    def wait(self) -> int:
        try:
            error = self.connection.recv()
        except (OSError, EOFError) as lost:
            self.owner._stop()
            raise PublishError(f"the producer process is gone: {lost!r}") from lost
        if error is not None:
            raise PublishError(error)
        return self.count


def _produce(connection: Connection, bootstrap_servers: str, topic: TopicSpec) -> None:
    """The child: publishes each batch it is sent and answers None, or what went wrong."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the relay stops it when it stops itself
    publisher = Publisher(bootstrap_servers, topic)
    try:
        while (batch := _next_batch(connection)) is not None:
            try:
                publisher.publish(Record(key, value) for key, value in batch)
            except Exception as error:
                connection.send(repr(error))
            else:
                connection.send(None)
    finally:
        publisher.close()


def _next_batch(connection: Connection) -> list[tuple[bytes, bytes | None]] | None:
    try:
        batch: list[tuple[bytes, bytes | None]] | None = connection.recv()
    except (OSError, EOFError):  # the relay is gone
        return None
    return batch
