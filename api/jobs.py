"""Bulk jobs in the API process: where their files live, how a job is queued, and the runner
that works through the queue in background threads (Auth0's concurrency limit as a setting),
resuming jobs whose process stopped mid-way."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from metaledger.domain.exports import ExportField, documents_in_log, write_export
from metaledger.domain.imports import UserImporter
from metaledger.domain.jobs import COMPLETED, EXPORT, FAILED, IMPORT, Job, JobStore
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.exports import documents_in_read_model
from metaledger.projections.search.store import SearchStore, wait_for

log = logging.getLogger("metaledger.jobs")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class JobFiles:
    """Uploaded import files and written exports, under the data directory."""

    directory: Path

    def upload(self, job_id: str) -> Path:
        return self._path(f"{job_id}.upload")

    def export(self, job_id: str, file_format: str) -> Path:
        return self._path(f"{job_id}.{file_format}.gz")

    def _path(self, name: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / name


def run_import(
    profiles: UserProfiles,
    store: JobStore,
    job: Job,
    path: Path,
    progress: Callable[[int], None] = lambda line: None,
) -> None:
    """Applies an import job's file from its checkpoint, and records how it ended."""
    outcome = UserImporter(profiles, store).run(job, path, time.time, progress)
    total = outcome.inserted + outcome.updated + store.error_count(job.id)
    store.finish(job.id, COMPLETED, total, None, time.time())


@dataclass(frozen=True)
class ExportSource:
    """Where an export of the present reads its users: the search read model, once it has
    followed the log to where the log ended when the job started (waiting at most
    `wait_seconds`), else a replay of the log."""

    search: SearchStore | None
    wait_seconds: float

    def documents(
        self, profiles: UserProfiles, connection: str | None, as_of: datetime | None
    ) -> Iterator[dict[str, Any]]:
        if as_of is None and self.search is not None:
            end = profiles.recorder.max_notification_id() or 0
            if wait_for(self.search, end, self.wait_seconds):
                return documents_in_read_model(self.search, end, connection)
            log.warning(
                "the search read model has not reached position %d within %s s: the export "
                "replays the event log instead",
                end,
                self.wait_seconds,
            )
        return documents_in_log(profiles, connection, as_of)


REPLAY = ExportSource(None, 0)


def run_export(
    profiles: UserProfiles,
    store: JobStore,
    job: Job,
    path: Path,
    progress: Callable[[int], None] = lambda written: None,
    source: ExportSource = REPLAY,
) -> int:
    """Writes an export job's file, and records how it ended."""
    params: dict[str, Any] = job.params
    as_of = datetime.fromisoformat(params["as_of"]) if params.get("as_of") else None
    fields = [ExportField(f["name"], f.get("export_as")) for f in params.get("fields") or []]
    partial = path.with_suffix(".partial")
    written = write_export(
        partial,
        params.get("format", "json"),
        fields,
        source.documents(profiles, job.connection or None, as_of),
        params.get("limit"),
        progress,
    )
    partial.replace(path)  # a crashed export leaves no file that looks finished
    store.finish(job.id, COMPLETED, written, None, time.time())
    return written


class JobObserver(Protocol):
    """Told how far each job got (at every checkpoint) and how it ended."""

    def job_progress(self, job_type: str, lines: int) -> None: ...

    def job_ended(self, job_type: str, status: str) -> None: ...


class JobInterrupted(Exception):
    """The process stops: the job ends at its last checkpoint, to be resumed."""


class JobRunner:
    """Runs queued jobs, `workers` at a time, each in a thread of its own; a job whose owner
    stopped beating for `stale_seconds` is taken over and resumed from its checkpoint."""

    def __init__(
        self,
        profiles: UserProfiles,
        store: JobStore,
        files: JobFiles,
        *,
        workers: int,
        stale_seconds: float,
        expiry_seconds: float,
        observer: JobObserver,
        export_source: ExportSource = REPLAY,
    ) -> None:
        self.profiles = profiles
        self.export_source = export_source
        self.observer = observer
        self.store = store
        self.files = files
        self.workers = workers
        self.stale_seconds = stale_seconds
        self.expiry_seconds = expiry_seconds
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._loop, name=f"jobs-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stops taking jobs; a job in progress stops at its next checkpoint (or with the
        process) and resumes from its checkpoint later."""
        self._stopping.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=1.0)

    def wake(self) -> None:
        """A job was queued: an idle worker takes it now rather than at its next poll."""
        with self._wake:
            self._wake.notify_all()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim(time.time(), time.time() - self.stale_seconds)
                if job is None:
                    self._sweep()
                    with self._wake:
                        self._wake.wait(POLL_SECONDS)
                    continue
                self._run(job)
            except Exception:  # the store went away: try again at the next poll
                log.exception("the job runner could not reach the job store")
                self._stopping.wait(POLL_SECONDS)

    def _run(self, job: Job) -> None:
        log.info("running %s %s from line %d", job.type, job.id, job.next_line)
        checkpoint = functools.partial(self._checkpoint, job.type)
        beating = threading.Event()
        heart = threading.Thread(target=self._beat, args=(job.id, beating), daemon=True)
        heart.start()
        try:
            if job.type == IMPORT:
                path = self.files.upload(job.id)
                run_import(self.profiles, self.store, job, path, checkpoint)
                path.unlink(missing_ok=True)
            elif job.type == EXPORT:
                path = self.files.export(job.id, job.params.get("format", "json"))
                run_export(self.profiles, self.store, job, path, checkpoint, self.export_source)
        except Exception as error:
            if self._stopping.is_set():
                # The process is stopping (and its store closing): the job resumes from its
                # checkpoint once this or another process takes it over.
                log.info("%s %s left at its checkpoint: stopping", job.type, job.id)
                return
            log.exception("%s %s failed", job.type, job.id)
            self.store.finish(job.id, FAILED, None, f"The job failed: {error}", time.time())
            self.observer.job_ended(job.type, FAILED)
        else:
            self.observer.job_ended(job.type, COMPLETED)
        finally:
            beating.set()
            heart.join()

    def _checkpoint(self, job_type: str, lines: int) -> None:
        """Called at each checkpoint: reports the progress; a stopping process leaves the job
        there."""
        self.observer.job_progress(job_type, lines)
        if self._stopping.is_set():
            raise JobInterrupted

    def _beat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(self.stale_seconds / 4):
            with contextlib.suppress(Exception):  # a missed beat is retried; a crash is not
                self.store.heartbeat(job_id, time.time())

    def _sweep(self) -> None:
        """Deletes export files past their expiry."""
        for job_id in self.store.expired_exports(time.time() - self.expiry_seconds):
            for file_format in ("json", "csv"):
                self.files.export(job_id, file_format).unlink(missing_ok=True)
            self.store.mark_expired(job_id)
