"""The audit projector: follows the event log in order and writes each event's log record and
change rows with its position in one transaction (exactly once, across crashes too).

An erasure (a UserDeleted that destroyed the user's key) makes the user's earlier events read as
erased: the projector renders their records again from the erased events, and the store drops
the user's change rows, so the live read model equals one rebuilt after the erasure. Records
written directly by the API older than the retention period are pruned as it goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from metaledger.domain.application import batch_decoder
from metaledger.domain.erasure import is_erased
from metaledger.domain.user import User
from metaledger.projections.audit.records import AuditUser, render, track
from metaledger.projections.audit.store import AuditBatch, AuditStore
from metaledger.projections.follower import Follower, FollowerObserver, catch_up

log = logging.getLogger("metaledger.audit")

LIVE_BATCH_SIZE = 500
REBUILD_BATCH_SIZE = 5000
PRUNE_INTERVAL_SECONDS = 60.0


class UserLookup(Protocol):
    def users(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, AuditUser]: ...


class AuditProjector:
    def __init__(
        self,
        application: Application[UUID],
        store: AuditStore,
        batch_size: int = LIVE_BATCH_SIZE,
        retention: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.application = application
        self.store = store
        self.batch_size = batch_size
        self.retention = retention
        self.clock = clock
        self._position: int | None = None
        self._pruned_at = float("-inf")

    def project_batch(self) -> int:
        """Applies the next batch of events, if any; returns how many were read."""
        self.prune_when_due()
        if self._position is None:
            self._position = self.store.position() or 0
        notifications = self.application.recorder.select_notifications(
            self._position, self.batch_size, inclusive_of_start=False
        )
        if notifications:
            try:
                self.store.apply(self.fold(notifications))
            except BaseException:
                self._position = None
                raise
            self._position = notifications[-1].id
        return len(notifications)

    def catch_up(self) -> int:
        return catch_up(self.project_batch, self.batch_size)

    def fold(self, notifications: Sequence[Notification]) -> AuditBatch:
        batch = fold(self.application, notifications, self.store)
        for aggregate_id in batch.erased:
            self._rerender(aggregate_id, batch)
        return batch

    def _rerender(self, aggregate_id: UUID, batch: AuditBatch) -> None:
        """The records of the erased user's events projected before: rendered again from the
        events as they read now."""
        positions = self.store.event_positions(aggregate_id)
        user = batch.users.get(aggregate_id)
        if not positions or user is None:
            return
        known = {record.version for record in batch.records if record.aggregate_id == aggregate_id}
        for event in self.application.repository.event_store.get(aggregate_id):
            version = event.originator_version
            if isinstance(event, User.Event) and version in positions and version not in known:
                record, _ = render(positions[version], event, user)  # erased: no changes
                batch.records.append(record)

    def prune_when_due(self) -> None:
        if self.retention is None or time.monotonic() - self._pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self._pruned_at = time.monotonic()
        pruned = self.store.prune(self.clock() - self.retention)
        if pruned:
            log.info("pruned %d log records older than %s", pruned, self.retention)


def fold(
    application: Application[UUID], notifications: Sequence[Notification], users: UserLookup
) -> AuditBatch:
    """The rows of a batch of notifications; users are read from `users` as needed."""
    batch = AuditBatch(position=notifications[-1].id)
    decode = batch_decoder(application.mapper, notifications)
    decoded: list[tuple[int, User.Event]] = []
    for notification in notifications:
        try:
            event = decode(notification)
        except Exception as error:  # unknown topic, or a payload that cannot be read
            log.warning("skipped event %d (%s): %r", notification.id, notification.topic, error)
            batch.skipped += 1
            continue
        if isinstance(event, User.Event):
            decoded.append((notification.id, event))
        else:
            batch.skipped += 1
    known = users.users(list({event.originator_id for _, event in decoded}))
    stored = {aggregate_id: replace(user) for aggregate_id, user in known.items()}
    for position, event in decoded:
        user = track(known, event)
        record, changes = render(position, event, user)
        batch.records.append(record)
        batch.changes.extend(changes)
        if isinstance(event, User.UserDeleted) and is_erased(event):
            user.user_name = None
            batch.erased.append(event.originator_id)
    # Only the users new to the read model, or whose name the batch changed, are written.
    batch.users = {
        aggregate_id: user
        for aggregate_id, user in known.items()
        if stored.get(aggregate_id) != user
    }
    return batch


def rebuild(
    application: Application[UUID],
    store: AuditStore,
    report: Callable[[int, int], None] | None = None,
) -> int:
    """Replaces the read model with one projected from position 0, in one transaction with the
    position; returns the events read. `report(done, total)` follows the progress."""
    end = application.recorder.max_notification_id() or 0
    done = 0
    with store.replacing(end) as writer:
        position = 0
        while notifications := application.recorder.select_notifications(
            position, REBUILD_BATCH_SIZE, stop=end, inclusive_of_start=False
        ):
            position = notifications[-1].id
            batch = fold(application, notifications, writer)
            # The events of an erased user read as erased already: nothing to render again.
            batch.erased = []
            writer.write(batch)
            done += len(notifications)
            if report is not None:
                report(done, end)
    return done


class AuditProjectorService(Follower):
    """The audit projector beside the API (embedded) or in `metaledger project`."""

    def __init__(self, projector: AuditProjector, observer: FollowerObserver | None = None) -> None:
        super().__init__(
            "audit-projector",
            projector.project_batch,
            projector.batch_size,
            projector.application.recorder,
            observer=observer,
        )
