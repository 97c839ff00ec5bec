"""The consumer toolkit: a handler run over the change stream, each event's effects exactly once.

- a consumer group (`metaledger.<name>`) shares the partitions among the consumer's processes;
- offsets are committed by hand, only after the handler's transaction committed, so a crash
  redelivers what was not committed rather than losing it;
- the handler runs in a transaction that also records the event id (the inbox): a redelivered
  or re-published event finds its id there and has no second effect;
- a handler that keeps failing is retried a few times, then the message goes to the
  consumer's dead-letter topic (`<topic>.<name>.dlq`), and so does a message that is not a
  change event at all; the consumer moves on;
- SIGTERM or SIGINT: the current message is finished, the offsets committed, the consumer closed.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata, TopicPartition

from metaledger.consumers.database import Database, Transaction, claim
from metaledger.consumers.messages import ChangeEvent, InvalidMessage, parse
from metaledger.projections.relay.topics import TopicSpec, ensure_topic

log = logging.getLogger("metaledger.consumer")

MAX_ATTEMPTS = 3
RETRY_PAUSE = 0.2
POLL_MS = 200
DEAD_LETTER_TIMEOUT = 30.0


class Handler(Protocol):
    name: str

    def setup(self, tx: Transaction) -> None:
        """Creates the handler's tables (idempotent)."""

    def wants(self, event: ChangeEvent) -> bool:
        """False for events the handler ignores: they are neither handled nor recorded."""

    def handle(self, event: ChangeEvent, tx: Transaction) -> None:
        """Applies the event; raising rolls the transaction back (and the event is retried)."""


class ConsumerObserver(Protocol):
    """Told of each event's effect and of how far behind the topic the consumer is (metrics,
    logs)."""

    def handled(self, consumer: str, event: ChangeEvent, seconds: float) -> None: ...

    def dead_lettered(self, consumer: str, error: Exception) -> None: ...

    def lag(self, consumer: str, messages: int) -> None: ...


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap_servers: str
    topic: str
    dead_letter_partitions: int = 1
    replication_factor: int = 1
    max_attempts: int = MAX_ATTEMPTS
    retry_pause: float = RETRY_PAUSE

    def group(self, name: str) -> str:
        return f"metaledger.{name}"

    def dead_letter_topic(self, name: str) -> str:
        return f"{self.topic}.{name}.dlq"


class ConsumerRunner:
    def __init__(
        self,
        config: ConsumerConfig,
        handler: Handler,
        database: Database,
        on_handled: Callable[[ChangeEvent], None] | None = None,
        observer: ConsumerObserver | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.database = database
        self.on_handled = on_handled
        self.observer = observer
        self.dead_letter_topic = config.dead_letter_topic(handler.name)
        self._stopping = threading.Event()
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        with database.transaction() as tx:
            handler.setup(tx)

    def install_signal_handlers(self) -> None:
        def stop(_signal: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Consumes until `stop()`."""
        ensure_topic(
            self.config.bootstrap_servers,
            TopicSpec(
                self.dead_letter_topic,
                self.config.dead_letter_partitions,
                self.config.replication_factor,
            ),
        )
        consumer = self._consumer = KafkaConsumer(
            self.config.topic,
            bootstrap_servers=self.config.bootstrap_servers,
            group_id=self.config.group(self.handler.name),
            client_id=f"metaledger-{self.handler.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )
        try:
            while not self._stopping.is_set():
                polled = consumer.poll(timeout_ms=POLL_MS)
                offsets: dict[TopicPartition, OffsetAndMetadata] = {}
                for partition, records in polled.items():
                    for record in records:
                        self.process(
                            record.key, record.value, record.headers, partition, record.offset
                        )
                        offsets[partition] = OffsetAndMetadata(record.offset + 1, "", -1)
                if self.observer is not None:
                    self.observer.lag(self.handler.name, _lag(consumer))
                if offsets:
                    try:
                        consumer.commit(offsets)
                    except CommitFailedError as error:
                        # the partitions moved to another member, which gets these messages
                        # again; their ids are in the inbox, so they have no second effect
                        log.warning("%s: offsets not committed: %r", self.handler.name, error)
        finally:
            consumer.close(autocommit=False)
            self._consumer = None
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
            self.database.close()

    def process(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: TopicPartition,
        offset: int,
    ) -> None:
        """Handles one message, retrying a failing handler; dead-letters what cannot be handled."""
        if value is None:
            return  # a tombstone: the user was erased, their user.deleted came before it
        try:
            event = parse(value)
        except InvalidMessage as error:
            self._dead_letter(key, value, headers, partition, offset, error)
            return
        if not self.handler.wants(event):
            return
        for attempt in range(1, self.config.max_attempts + 1):
            started = time.perf_counter()
            try:
                with self.database.transaction() as tx:
                    if claim(tx, self.handler.name, event.id):
                        self.handler.handle(event, tx)
            except Exception as error:
                log.warning(
                    "%s: event %s failed (attempt %d of %d): %r",
                    self.handler.name,
                    event.id,
                    attempt,
                    self.config.max_attempts,
                    error,
                )
                if attempt == self.config.max_attempts:
                    self._dead_letter(key, value, headers, partition, offset, error)
                    return
                time.sleep(self.config.retry_pause * attempt)
            else:
                if self.observer is not None:
                    self.observer.handled(self.handler.name, event, time.perf_counter() - started)
                if self.on_handled is not None:
                    self.on_handled(event)
                return

    def _dead_letter(
        self,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        partition: TopicPartition,
        offset: int,
        error: Exception,
    ) -> None:
        """Parks the message, with why and where it came from; returns once it is stored."""
        if self.observer is not None:
            self.observer.dead_lettered(self.handler.name, error)
        log.error(
            "%s: message %s/%d at offset %d goes to %s: %r",
            self.handler.name,
            partition.topic,
            partition.partition,
            offset,
            self.dead_letter_topic,
            error,
        )
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers,
                client_id=f"metaledger-{self.handler.name}-dlq",
                acks="all",
                enable_idempotence=True,
            )
        origin: list[tuple[str, bytes]] = [
            ("dlq-error", repr(error).encode()),
            ("dlq-topic", partition.topic.encode()),
            ("dlq-partition", str(partition.partition).encode()),
            ("dlq-offset", str(offset).encode()),
            ("dlq-consumer", self.handler.name.encode()),
        ]
        future: Any = self._producer.send(
            self.dead_letter_topic, key=key, value=value, headers=[*headers, *origin]
        )
        future.get(timeout=DEAD_LETTER_TIMEOUT)


def _lag(consumer: KafkaConsumer) -> int:
    """Messages on the consumer's partitions past its position (partitions whose end it has
    not fetched yet count nothing)."""
    behind = 0
    for partition in consumer.assignment():
        end = consumer.highwater(partition)
        if end is not None:
            behind += max(end - consumer.position(partition), 0)
    return behind
