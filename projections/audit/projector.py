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

from metaledger.domain.erasure import is_erased
from metaledger.domain.user import User
from metaledger.projections.audit.records import AuditUser, render, track
from metaledger.projections.audit.store import AuditBatch, AuditStore
from metaledger.projections.batches import BatchProjector, Decoded, decoded

log = logging.getLogger("metaledger.audit")

LIVE_BATCH_SIZE = 500
REBUILD_BATCH_SIZE = 5000
PRUNE_INTERVAL_SECONDS = 60.0


class UserLookup(Protocol):
    def users(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, AuditUser]: ...


class AuditProjector(BatchProjector[AuditBatch]):
    def __init__(
        self,
        application: Application[UUID],
        store: AuditStore,
        batch_size: int = LIVE_BATCH_SIZE,
        retention: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(application, store, batch_size)
        self.store: AuditStore = store
        self.retention = retention
        self.clock = clock
        self._pruned_at = float("-inf")

    def fold(self, events: Sequence[Decoded]) -> AuditBatch:
        batch = fold(events, self.store)
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

    def tend(self) -> None:
        """Prunes the records written directly past the retention period, once a minute."""
        if self.retention is None or time.monotonic() - self._pruned_at < PRUNE_INTERVAL_SECONDS:
            return
        self._pruned_at = time.monotonic()
        pruned = self.store.prune(self.clock() - self.retention)
        if pruned:
            log.info("pruned %d log records older than %s", pruned, self.retention)


def fold(events: Sequence[Decoded], users: UserLookup) -> AuditBatch:
    """The rows of a batch of events; users are read from `users` as needed."""
    batch = AuditBatch(position=events[-1][0].id)
    user_events: list[tuple[int, User.Event]] = []
    for notification, event in events:
        if isinstance(event, Exception):
            log.warning("skipped event %d (%s): %r", notification.id, notification.topic, event)
            batch.skipped += 1
        elif isinstance(event, User.Event):
            user_events.append((notification.id, event))
        else:
            batch.skipped += 1
    known = users.users(list({event.originator_id for _, event in user_events}))
    stored = {aggregate_id: replace(user) for aggregate_id, user in known.items()}
    for position, event in user_events:
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
            batch = fold(decoded(application, notifications), writer)
            # The events of an erased user read as erased already: nothing to render again.
            batch.erased = []
            writer.write(batch)
            done += len(notifications)
            if report is not None:
                report(done, end)
    return done
