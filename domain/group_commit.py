"""Group commit: writes that arrive together share one transaction, so one fsync.

A writer queues its work and takes the commit lock; whoever holds it commits everything queued
so far in one go, and the writers whose work was in that batch find it done when their turn
comes. Under load a batch grows to the number of concurrent writers; alone, a writer commits
its own work at once, so nothing waits for a timer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Work = TypeVar("Work")
Result = TypeVar("Result")


@dataclass
class _Ticket(Generic[Work, Result]):
    work: Work
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Work, Result]):
    """`commit` receives a batch and returns, per item, its result or the error it raised."""

    def __init__(
        self,
        commit: Callable[[list[Work]], list[Result | BaseException]],
        max_batch: int = 256,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: list[_Ticket[Work, Result]] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def submit(self, work: Work) -> Result:
        ticket: _Ticket[Work, Result] = _Ticket(work)
        with self._queue_lock:
            self._queue.append(ticket)
        while not ticket.done:
            with self._commit_lock:
                if not ticket.done:
                    self._run_batch()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result  # type: ignore[return-value]

    def _run_batch(self) -> None:
        with self._queue_lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            outcomes = self._commit([ticket.work for ticket in batch])
        except BaseException as error:  # the whole batch failed: each writer sees why
            outcomes = [error] * len(batch)
        for ticket, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                ticket.error = outcome
            else:
                ticket.result = outcome
            ticket.done = True
