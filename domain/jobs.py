"""Bulk jobs (users imports and exports) as the domain sees them, and the port of their store:
a job's state, its progress checkpoint and its per-line errors."""

from __future__ import annotations

import gc
import secrets
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

IMPORT = "users_import"
EXPORT = "users_export"
PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
JOB_ID_ALPHABET = string.ascii_letters + string.digits


def new_job_id() -> str:
    """Auth0's form: `job_` and 16 letters and digits."""
    return "job_" + "".join(secrets.choice(JOB_ID_ALPHABET) for _ in range(16))


@dataclass(frozen=True)
class LineError:
    """One reason a line was not applied, in Auth0's words (`code`, `message`, `path`)."""

    code: str
    message: str
    path: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


@dataclass(frozen=True)
class FailedLine:
    line: int
    user: Any  # the line as sent (or its text when it is not JSON)
    errors: list[LineError]


@dataclass
class Job:
    id: str
    type: str
    connection: str
    created_at: float
    # What the request asked: upsert, external_id, send_completion_email (imports); format,
    # fields, limit, as_of (exports).
    params: dict[str, Any] = field(default_factory=dict)
    status: str = PENDING
    # Imports: the next line to apply and the counts up to it. Exports: users written.
    next_line: int = 1
    inserted: int = 0
    updated: int = 0
    total: int | None = None
    status_details: str | None = None
    finished_at: float | None = None


class JobStore(Protocol):
    """Where jobs live, shared by every process of one store."""

    def add(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def claim(self, now: float, stale_before: float) -> Job | None:
        """Takes the oldest pending job, or one in progress whose owner stopped beating before
        `stale_before` (it crashed): that job resumes from its checkpoint."""
        ...

    def checkpoint(
        self, job_id: str, next_line: int, inserted: int, updated: int, now: float
    ) -> None:
        """Records progress up to `next_line` (and that the job's owner is alive)."""
        ...

    def heartbeat(self, job_id: str, now: float) -> None:
        """Says the job's owner is alive (between checkpoints, which say so too)."""
        ...

    def add_errors(self, job_id: str, failed: list[FailedLine]) -> None:
        """Keeps each line's errors once, however often the line is tried."""
        ...

    def errors(self, job_id: str) -> list[FailedLine]: ...

    def error_count(self, job_id: str) -> int: ...

    def finish(
        self, job_id: str, status: str, total: int | None, details: str | None, now: float
    ) -> None: ...

    def expired_exports(self, before: float) -> list[str]:
        """Completed exports finished before `before` whose files are still there."""
        ...

    def mark_expired(self, job_id: str) -> None: ...


# Allocations between two young-generation collections while a bulk job runs (CPython's default
# is 700). A job allocates a few dozen containers per user and keeps its users (an export) or
# its file's lines (a JSON-array import) alive throughout, so the collector's passes took about
# a fifth of an import; garbage without cycles is freed at once either way.
BULK_GC_THRESHOLD = 100_000


class _CollectorPace:
    """Collects less often while any bulk job runs, and as before once the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs = 0
        self._before = gc.get_threshold()

    @contextmanager
    def relaxed(self) -> Iterator[None]:
        with self._lock:
            if self._jobs == 0:
                self._before = gc.get_threshold()
                gc.set_threshold(BULK_GC_THRESHOLD, *self._before[1:])
            self._jobs += 1
        try:
            yield
        finally:
            with self._lock:
                self._jobs -= 1
                if self._jobs == 0:
                    gc.set_threshold(*self._before)


bulk_collection_pace = _CollectorPace().relaxed
