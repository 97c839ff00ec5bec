"""Runs a follower of the event log: batch after batch, waiting for new events when caught up.

A follower is a `step` that handles the next batch and says how many events it read. A step that
raises (a store or broker down) is retried after a pause that doubles up to a bound, so an
outage costs no busy loop and the follower resumes by itself when the dependency returns. An
outage is logged once when it starts and once when it ends.
Runs in a thread of its own beside the API (embedded mode) or in the foreground of a process;
`catch_up` runs the steps once up to the end of the log, in the caller's thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder

from metaledger.projections.wakeup import Wakeup, wakeup_for

FIRST_PAUSE = 0.1
MAX_PAUSE = 5.0
# A batch takes milliseconds; `serve`'s two followers stop one after the other well inside its
# stop's deadline (METALEDGER_SHUTDOWN_TIMEOUT_SECONDS).
STOP_TIMEOUT = 2.0


class FollowerObserver(Protocol):
    """Told of each batch that read events and of each failed one (metrics, logs)."""

    def batch(self, follower: str, events: int, seconds: float) -> None: ...

    def failed(self, follower: str, error: Exception) -> None: ...


def catch_up(step: Callable[[], int], batch_size: int) -> int:
    """Runs `step` until a batch comes back short of `batch_size`, the end of the log so far;
    returns how many events the batches read. Failures propagate: nothing is retried."""
    events = 0
    while (count := step()) > 0:
        events += count
        if count < batch_size:
            break
    return events


class Follower:
    def __init__(
        self,
        name: str,
        step: Callable[[], int],
        batch_size: int,
        recorder: ApplicationRecorder,
        *,
        poll_interval: float = 0.02,
        max_pause: float = MAX_PAUSE,
        on_failure: Callable[[int], None] | None = None,
        observer: FollowerObserver | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.batch_size = batch_size
        self.recorder = recorder
        self.poll_interval = poll_interval
        self.max_pause = max_pause
        self.on_failure = on_failure
        self.observer = observer
        self.log = logging.getLogger(f"metaledger.{name}")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeup: Wakeup | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Waits `STOP_TIMEOUT` seconds at most for the batch in progress; a step blocked on a
        store or broker that is gone is left to end with the process (the thread is a daemon),
        so that a stop finishes in bounded time. Returns whether the thread has stopped."""
        self._stopping.set()
        if self._wakeup is not None:
            self._wakeup.interrupt()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout=STOP_TIMEOUT)
        if thread.is_alive():
            self.log.warning("%s did not stop within %g s; leaving it", self.name, STOP_TIMEOUT)
            return False
        return True

    def run(self) -> None:
        """Follows the log until `stop()`. Whatever fails (a step, or waiting for new events on
        a store that went away) is retried after a pause; the wakeup is opened again."""
        failures = 0
        failing_since = 0.0
        wakeup: Wakeup | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if wakeup is None:
                        wakeup = self._wakeup = wakeup_for(self.recorder, self.poll_interval)
                    started = time.perf_counter()
                    count = self.step()
                    if count and self.observer is not None:
                        self.observer.batch(self.name, count, time.perf_counter() - started)
                    if failures:
                        self.log.warning(
                            "%s recovered after %d failed attempts in %.0f s",
                            self.name,
                            failures,
                            time.monotonic() - failing_since,
                        )
                        failures = 0
                    if count < self.batch_size:
                        wakeup.wait()
                except Exception as error:
                    failures += 1
                    if self.observer is not None:
                        self.observer.failed(self.name, error)
                    # One line when the outage starts and one when it ends; the retries in
                    # between, with their tracebacks, only at DEBUG.
                    if failures == 1:
                        failing_since = time.monotonic()
                        self.log.warning("%s failed, retrying: %r", self.name, error)
                    self.log.debug("%s failed (attempt %d)", self.name, failures, exc_info=True)
                    if wakeup is not None:
                        _close_quietly(wakeup)
                        wakeup = self._wakeup = None
                    if self.on_failure is not None:
                        self.on_failure(failures)
                    self._stopping.wait(min(FIRST_PAUSE * 2 ** (failures - 1), self.max_pause))
        finally:
            if wakeup is not None:
                _close_quietly(wakeup)
            self._wakeup = None


def _close_quietly(wakeup: Wakeup) -> None:
    with contextlib.suppress(Exception):  # its connection may be what broke
        wakeup.close()
