"""How a follower of the event log (search projector, relay) learns that events were recorded.

PostgreSQL: the event store NOTIFYs a channel on every insert, and the follower LISTENs on it
(polling slowly as well, in case a notification is lost with its connection). SQLite has no
such signal: the follower polls, which costs one indexed query per interval.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

POSTGRES_FALLBACK_INTERVAL = 0.1
# Writes come in bursts (every group commit notifies): listening this much longer after a
# notification lets one step take the burst in one transaction, and drains the notifications
# that step covers, which would otherwise each wake the follower for nothing.
POSTGRES_GATHER_SECONDS = 0.01


class Wakeup(Protocol):
    def wait(self) -> None:
        """Returns when new events may have been recorded (or after an interval)."""

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class Polling:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._interrupted = threading.Event()

    def wait(self) -> None:
        self._interrupted.wait(self.interval)

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self._interrupted.set()


class PostgresNotifications:
    def __init__(self, recorder: PostgresApplicationRecorder, interval: float) -> None:
        self.interval = interval
        self._resources = ExitStack()
        self._connection = self._resources.enter_context(recorder.datastore.get_connection())
        self._connection.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))

    def wait(self) -> None:
        notified = any(True for _ in self._connection.notifies(timeout=self.interval, stop_after=1))
        if notified:
            for _ in self._connection.notifies(timeout=POSTGRES_GATHER_SECONDS):
                pass

    def interrupt(self) -> None:
        """The waiting thread returns within the fallback interval."""

    def close(self) -> None:
        self._resources.close()


def wakeup_for(recorder: ApplicationRecorder, poll_interval: float) -> Wakeup:
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresNotifications(recorder, max(poll_interval, POSTGRES_FALLBACK_INTERVAL))
    return Polling(poll_interval)
