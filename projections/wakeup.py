"""How a follower of the event log (search projector, relay) learns that events were recorded.

PostgreSQL: the event store NOTIFYs a channel on every insert, and the follower LISTENs on it
(polling slowly as well, in case a notification is lost with its connection). SQLite has no
such signal: the follower watches the event store's write-ahead log, which every commit writes
(a `stat` every 2 ms, no query), and looks at the log anyway once an interval.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

POSTGRES_FALLBACK_INTERVAL = 0.1
# How often a SQLite follower looks at the event store's WAL file: a `stat`, microseconds.
WAL_CHECK_SECONDS = 0.002


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


class WalWatch:
    """Returns when the event store's WAL file changed (size or time) since the last return."""

    def __init__(self, database: Path, interval: float) -> None:
        self.wal = database.with_name(database.name + "-wal")
        self.interval = interval
        self._interrupted = threading.Event()
        self._seen = self._state()

    def _state(self) -> tuple[int, int]:
        try:
            status = self.wal.stat()
        except FileNotFoundError:  # no writer has opened the store yet
            return (0, 0)
        return (status.st_size, status.st_mtime_ns)

    def wait(self) -> None:
        deadline = time.monotonic() + self.interval
        # A commit during the step that came before shows as a change from `_seen`, taken
        # when the previous wait returned: no commit goes unnoticed until the interval.
        while not self._interrupted.wait(WAL_CHECK_SECONDS):
            state = self._state()
            if state != self._seen or time.monotonic() >= deadline:
                self._seen = state
                return

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
            self.drain()

    def drain(self) -> int:
        """Takes the notifications already received (commits during the step before), without
        waiting for more; returns how many. The step that follows reads all they announce, so
        none of them wakes the follower again; waiting for a burst to end would only delay it
        (the commits that come during the step make the next step's batch)."""
        return sum(1 for _ in self._connection.notifies(timeout=0))

    def interrupt(self) -> None:
        """The waiting thread returns within the fallback interval."""

    def close(self) -> None:
        self._resources.close()


def wakeup_for(recorder: ApplicationRecorder, poll_interval: float) -> Wakeup:
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresNotifications(recorder, max(poll_interval, POSTGRES_FALLBACK_INTERVAL))
    if (
        isinstance(recorder, SQLiteApplicationRecorder)
        and not recorder.datastore.pool.is_sqlite_memory_mode
    ):
        return WalWatch(Path(recorder.datastore.pool.db_name), poll_interval)
    return Polling(poll_interval)
