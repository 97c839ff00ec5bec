"""The pool of sandbox worker processes, and one run of a configuration on one of them.

QuickJS is C: a crash, a runaway loop or a memory bomb must not reach the API process, so the
code runs in worker processes (`worker.py`). A run takes an idle worker, sends the login's
input, executes the effects the code asks for (through `execute`) and gets the result, all
under one wall-clock deadline; a worker that overruns it, dies or says something unreadable is
killed and replaced, and the run fails with a `SandboxFailure`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("metaledger.sandbox")

# Beyond the run's deadline, how long a worker gets to report its own timeout before it is
# killed.
GRACE_SECONDS = 0.5


class SandboxFailure(Exception):
    """A run that did not finish: `kind` is timeout, memory, stalled, crashed or busy."""

    def __init__(self, kind: str, message: str, source: Any = None, *, lost: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.source = source
        self.lost = lost  # the worker cannot be trusted again


@dataclass(frozen=True)
class Setup:
    """A tenant configuration: what a worker's context is built from, under a stable key."""

    key: str
    body: dict[str, Any]


class WorkerProcess:
    def __init__(self, memory_bytes: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metaledger.api.sandbox.worker", str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Inherited: a worker that dies of a Python error leaves its traceback in the log.
        )
        assert self.process.stdin is not None  # both piped above
        assert self.process.stdout is not None
        self._stdin = self.process.stdin
        self._fd = self.process.stdout.fileno()
        # poll, not select: a server holding over 1,024 descriptors gets pipes select refuses.
        self._readable = select.poll()
        self._readable.register(self._fd, select.POLLIN)
        self._buffer = b""
        self.keys: set[str] = set()  # configurations this worker was sent

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._stdin.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
            self._stdin.flush()
        except OSError:
            raise SandboxFailure("crashed", "the sandbox worker stopped", lost=True) from None

    def receive(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            left = deadline + GRACE_SECONDS - time.monotonic()
            if left <= 0:
                raise SandboxFailure("timeout", "the script ran out of time", lost=True)
            if not self._readable.poll(left * 1000):
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise SandboxFailure("crashed", "the sandbox worker stopped", lost=True)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise SandboxFailure(
                "crashed", "the sandbox worker answered garbage", lost=True
            ) from None
        return message

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        # Closing flushes what a dead worker never read: nothing to do about it.
        with contextlib.suppress(OSError):
            self._stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


Execute = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


class WorkerPool:
    """`size` worker processes, started on first use; each run holds one for its duration."""

    def __init__(self, size: int, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self._idle: queue.LifoQueue[WorkerProcess | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)
        self._all: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self.replaced = 0  # workers killed and replaced so far

    def run(
        self, setup: Setup, run_input: dict[str, Any], seconds: float, execute: Execute
    ) -> dict[str, Any]:
        """The worker's `done` message; effects go through `execute` as they come."""
        deadline = time.monotonic() + seconds
        try:
            worker = self._idle.get(timeout=seconds)
        except queue.Empty:
            raise SandboxFailure("busy", "every sandbox worker is busy") from None
        try:
            if worker is None:
                worker = self._start()
            done = self._run_on(worker, setup, run_input, deadline, execute)
        except SandboxFailure as failure:
            if worker is not None and failure.lost:
                self._discard(worker)
                # Started here, on the login that already failed, not on the next one.
                worker = self._replacement()
            self._idle.put(worker)
            raise
        except BaseException:
            if worker is not None:
                self._discard(worker)
            self._idle.put(None)
            raise
        self._idle.put(worker)
        return done

    def _run_on(
        self,
        worker: WorkerProcess,
        setup: Setup,
        run_input: dict[str, Any],
        deadline: float,
        execute: Execute,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"key": setup.key, "input": run_input}
        if setup.key not in worker.keys:
            message["setup"] = setup.body
        while True:
            message["seconds"] = max(deadline - time.monotonic(), 0.0)
            worker.send(message)
            answer = worker.receive(deadline)
            while answer["type"] == "effects":
                worker.send({"answers": execute(answer["effects"])})
                answer = worker.receive(deadline)
            if answer["type"] != "setup":
                break
            message["setup"] = setup.body  # the worker dropped this configuration
        worker.keys.add(setup.key)
        if answer["type"] == "failed":
            raise SandboxFailure(answer["kind"], answer["message"], answer.get("source"))
        return answer

    def _start(self) -> WorkerProcess:
        worker = WorkerProcess(self.memory_bytes)
        with self._lock:
            self._all.add(worker)
        return worker

    def _replacement(self) -> WorkerProcess | None:
        """A new worker, or None (the next run starts one) if none can start now."""
        try:
            return self._start()
        except OSError:
            log.exception("no sandbox worker could start")
            return None

    def _discard(self, worker: WorkerProcess) -> None:
        log.warning("sandbox worker %s killed and replaced", worker.pid)
        worker.kill()
        with self._lock:
            self._all.discard(worker)
            self.replaced += 1

    def workers(self) -> list[int]:
        """The worker processes' ids (for operators and tests)."""
        with self._lock:
            return sorted(worker.pid for worker in self._all)

    def start(self) -> None:
        """Nothing to do: workers start on first use, so a process that serves no login
        starts none."""

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.kill()
