"""`metaledger tail`: the change stream for humans, one line per event, optionally filtered.

Reads without a consumer group (no offsets are committed, no other consumer is disturbed),
from the end of every partition, or from the beginning with `--from-beginning`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from rich.text import Text

from metaledger.consumers.messages import ChangeEvent, InvalidMessage, parse

POLL_MS = 200


@dataclass(frozen=True)
class TailFilter:
    user_id: str | None = None
    types: frozenset[str] = frozenset()  # CloudEvents types or domain event names

    def matches(self, event: ChangeEvent) -> bool:
        if self.user_id is not None and event.subject != self.user_id:
            return False
        return not self.types or event.type in self.types or event.event_name in self.types


def describe(event: ChangeEvent) -> Text:
    """`time  type  user  DomainEvent vN  key: old → new, …`, the old values red, the new green
    (where colours are shown)."""
    line = Text.assemble(
        (event.time, "dim"),
        "  ",
        (f"{event.type:<12}", "bold"),
        f"  {event.subject}  {event.event_name} v{event.version}",
    )
    changes = [(path, change) for path, change in event.changes.items() if isinstance(change, dict)]
    for number, (path, change) in enumerate(changes):
        line.append(",  " if number else "  ")
        line.append(f"{path}: ")
        line.append(_short(change.get("old")), "red")
        line.append(" → ")
        line.append(_short(change.get("new")), "green")
    return line


def _matching(values: list[bytes], where: TailFilter) -> Iterator[ChangeEvent]:
    for value in values:
        try:
            event = parse(value)
        except InvalidMessage:
            continue
        if where.matches(event):
            yield event


def _short(value: object) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


class Tail:
    def __init__(self, bootstrap_servers: str, topic: str, from_beginning: bool = False) -> None:
        self.topic = topic
        self.from_beginning = from_beginning
        self._stopping = threading.Event()
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="metaledger-tail",
            group_id=None,
            enable_auto_commit=False,
        )

    def stop(self) -> None:
        self._stopping.set()

    def events(self, where: TailFilter) -> Iterator[ChangeEvent]:
        """Matching events as they arrive, until `stop()`; unreadable messages are passed."""
        consumer = self._consumer
        partitions = [
            TopicPartition(self.topic, number)
            for number in sorted(consumer.partitions_for_topic(self.topic) or ())
        ]
        consumer.assign(partitions)
        if self.from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
        try:
            while not self._stopping.is_set():
                polled = [
                    record.value
                    for records in consumer.poll(timeout_ms=POLL_MS).values()
                    for record in records
                    if record.value is not None
                ]
                # partitions interleave as they come: a poll's events are shown in log order
                yield from sorted(_matching(polled, where), key=lambda event: event.position)
        finally:
            consumer.close(autocommit=False)
