"""The projector: follows the event log in order and keeps the read model, batch by batch.

Each batch of notifications is folded in memory, with the domain's own events applied to the
User aggregates they belong to, and written with its position in one transaction: exactly once,
also across crashes (a batch is either wholly written with its position, or not at all).

An event the projector cannot read (unknown topic, payload made unreadable) or that belongs to
no projected user is skipped, recorded as skipped, and passed: the position moves on.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import CanInitAggregate
from eventsourcing.persistence import Notification

from metaledger.domain.erasure import is_erased
from metaledger.domain.user import User
from metaledger.projections.batches import BatchProjector, Decoded, Projections, decoded
from metaledger.projections.follower import Follower, FollowerObserver
from metaledger.projections.search.documents import Indexed, RemovedUser, metadata_entries, user_row
from metaledger.projections.search.store import Batch, SearchStore, SkippedEvent

log = logging.getLogger("metaledger.projector")

LIVE_BATCH_SIZE = 500
REBUILD_BATCH_SIZE = 2000
# A rebuild pass holds the users of at most this many events in memory (~5 KB a user).
EVENTS_PER_PASS = 300_000
# A helper process costs about a second to start: worth it for a log of this many events.
EVENTS_PER_PROCESS = 50_000

ApplicationOpener = Callable[[], Application[UUID]]
"""Opens the application anew, in a helper process: picklable, such as a `functools.partial`
of a top-level function."""


@dataclass
class _Tracked:
    """A user as the batch changes it."""

    key: int
    user: User
    before: Indexed | None  # what the read model holds of it; None for a user new to it


@dataclass(frozen=True)
class Progress:
    done: int  # notifications read (over every pass of a rebuild)
    total: int
    events: int  # events applied or skipped


class Projector(BatchProjector[Batch]):
    def __init__(
        self,
        application: Application[UUID],
        store: SearchStore,
        batch_size: int = LIVE_BATCH_SIZE,
    ) -> None:
        super().__init__(application, store, batch_size)
        self.store: SearchStore = store

    def fold(self, events: Sequence[Decoded]) -> Batch:
        batch = Batch(position=events[-1][0].id)
        user_events = _user_events(events, batch)
        tracked = self._load({event.originator_id for _, event in user_events})
        _fold(user_events, tracked, batch)
        return batch

    def _load(self, aggregate_ids: set[UUID]) -> dict[UUID, _Tracked]:
        stored = self.store.load(aggregate_ids) if aggregate_ids else {}
        tracked = {}
        for aggregate_id, row in stored.items():
            user = row.restore(aggregate_id)
            tracked[aggregate_id] = _Tracked(row.key, user, Indexed.of(user))
        return tracked


def _user_events(events: Sequence[Decoded], batch: Batch) -> list[tuple[Notification, User.Event]]:
    """The user events among `events`; the others are recorded in `batch` as skipped."""
    found = []
    for notification, event in events:
        if isinstance(event, Exception):
            batch.skipped.append(_skipped(notification, f"unreadable: {event!r}"))
        elif not isinstance(event, User.Event):
            batch.skipped.append(_skipped(notification, "not a user event"))
        else:
            found.append((notification, event))
    return found


def _fold(
    events: list[tuple[Notification, User.Event]], tracked: dict[UUID, _Tracked], batch: Batch
) -> None:
    """Applies `events` to the `tracked` users, and puts what changed in `batch`."""
    deleted: set[UUID] = set()
    for notification, event in events:
        _apply(notification, event, tracked, deleted, batch)
    _finish(tracked, deleted, batch)


def _finish(tracked: dict[UUID, _Tracked], deleted: set[UUID], batch: Batch) -> None:
    for aggregate_id in deleted:
        gone = tracked.pop(aggregate_id)
        if gone.before is not None:
            batch.deletions.append(RemovedUser(gone.key, metadata_entries(gone.before.buckets)))
    batch.upserts.extend(user_row(t.key, t.user, t.before) for t in tracked.values())
    if batch.skipped:
        first = batch.skipped[0]
        log.warning(
            "skipped %d events up to position %d, first %d (%s): %s",
            len(batch.skipped),
            batch.position,
            first.notification_id,
            first.topic,
            first.reason,
        )


def _apply(
    notification: Notification,
    event: User.Event,
    tracked: dict[UUID, _Tracked],
    deleted: set[UUID],
    batch: Batch,
) -> None:
    # Also when the user left the read model earlier (deleted, then erased): its rows may
    # still be in the files.
    batch.erased |= is_erased(event)
    aggregate_id = event.originator_id
    current = tracked.get(aggregate_id)
    if isinstance(event, CanInitAggregate):
        if current is not None:
            batch.skipped.append(_skipped(notification, "the user is already projected"))
            return
        user = cast(User, event.mutate(None))
        tracked[aggregate_id] = _Tracked(notification.id, user, None)
        return
    if current is None or aggregate_id in deleted:
        batch.skipped.append(_skipped(notification, "no such user in the read model"))
        return
    try:
        event.mutate(current.user)
    except Exception as error:  # a gap or a replay: the row stays, the event is recorded
        batch.skipped.append(_skipped(notification, f"not applicable: {error!r}"))
        return
    if current.user.deleted:
        deleted.add(aggregate_id)


def _skipped(notification: Notification, reason: str) -> SkippedEvent:
    return SkippedEvent(notification.id, notification.topic, reason)


def rebuild(
    application: Application[UUID],
    store: SearchStore,
    report: Callable[[Progress], None] | None = None,
    events_per_pass: int = EVENTS_PER_PASS,
    *,
    open_application: ApplicationOpener | None = None,
    processes: int = 1,
    events_per_process: int = EVENTS_PER_PROCESS,
) -> int:
    """Replaces the read model with one projected from position 0; returns the events read.

    Each user is folded in memory over all of its events and written once, into new tables
    whose indexes are built at the end, all in one transaction with the position: a crash
    leaves the old read model. Users are split into parts by their id, each folded in one pass
    over the log, so that a pass holds at most about `events_per_pass` users in memory. With
    `open_application` and `processes` > 1, other processes (each opening the application
    anew) fold some of the parts while this one folds and writes the others, at most one
    process for every `events_per_process` events.
    """
    end = application.recorder.max_notification_id() or 0
    helpers = 0
    if open_application is not None:
        helpers = max(0, min(processes, end // max(events_per_process, 1)) - 1)
    parts = max(helpers + 1, -(-end // events_per_pass))
    progress = Progress(0, end * parts, 0)
    # Folding makes no reference cycles, only short-lived containers freed as they go: the
    # cycle collector would spend a third of the time rescanning them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with store.replacing(end) as write, ExitStack() as stack:
            helped: deque[Future[tuple[Batch, int]]] = deque()
            if helpers:
                # Spawned, not forked: the caller may run threads (a store's pool, a bar).
                context = multiprocessing.get_context("spawn")
                pool = stack.enter_context(ProcessPoolExecutor(helpers, mp_context=context))
                opener = cast(ApplicationOpener, open_application)
                helped.extend(
                    pool.submit(_fold_part, opener, end, part, parts)
                    for part in range(parts)
                    if part % (helpers + 1)
                )

            def write_helped(before: Progress) -> Progress:
                batch, events = helped.popleft().result()
                write(batch)
                after = Progress(before.done + end, before.total, before.events + events)
                if report is not None:
                    report(after)
                return after

            for part in range(0, parts, helpers + 1):
                batch, progress = _pass(application, end, part, parts, progress, report)
                write(batch)
                while helped and helped[0].done():  # written as they come: memory stays bound
                    progress = write_helped(progress)
            while helped:
                progress = write_helped(progress)
    finally:
        if collecting:
            gc.enable()
    return progress.events


def _fold_part(
    open_application: ApplicationOpener, end: int, part: int, parts: int
) -> tuple[Batch, int]:
    """In a helper process: one part of the users folded over the log, and the events read."""
    gc.disable()
    application = open_application()
    try:
        batch, progress = _pass(application, end, part, parts, Progress(0, 0, 0), None)
    finally:
        application.close()
    return batch, progress.events


def _pass(
    application: Application[UUID],
    end: int,
    part: int,
    passes: int,
    progress: Progress,
    report: Callable[[Progress], None] | None,
) -> tuple[Batch, Progress]:
    """Folds the users of one part (their ids modulo `passes`) over the whole log."""
    batch = Batch(position=end)
    tracked: dict[UUID, _Tracked] = {}
    deleted: set[UUID] = set()
    position = 0
    while notifications := application.recorder.select_notifications(
        position, REBUILD_BATCH_SIZE, stop=end, inclusive_of_start=False
    ):
        position = notifications[-1].id
        ours = (
            notifications
            if passes == 1
            else [n for n in notifications if cast(UUID, n.originator_id).int % passes == part]
        )
        for notification, event in _user_events(decoded(application, ours), batch):
            _apply(notification, event, tracked, deleted, batch)
        progress = Progress(
            progress.done + len(notifications), progress.total, progress.events + len(ours)
        )
        if report is not None:
            report(progress)
    _finish(tracked, deleted, batch)
    return batch, progress


class ProjectorService(Follower):
    """The projectors beside the API (embedded mode, in a thread) or as the whole of
    `metaledger project`: catch up, then follow new events as they are recorded. Named for
    search, the read model every deployment has; the audit projector reads the same batches."""

    def __init__(self, projections: Projections, observer: FollowerObserver | None = None) -> None:
        super().__init__(
            "search-projector",
            projections.project_batch,
            projections.batch_size,
            projections.recorder,
            observer=observer,
        )
