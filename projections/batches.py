"""Projects the event log into read models batch by batch, reading each batch once for all of them.

A projector folds a batch of notifications into its read model's rows and writes them with the
batch's position in one transaction: exactly once, also across crashes (a batch is either wholly
written with its position, or not at all). `Projections` feeds several projectors (search and
audit) from one read of the log: each batch is selected and decoded (its users' keys looked up,
its events unsealed) once, and each projector takes the part past its own position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import ApplicationRecorder, Notification

from metaledger.domain.application import batch_decoder
from metaledger.projections.follower import catch_up

Decoded = tuple[Notification, DomainEventProtocol[UUID] | Exception]
"""A notification and its event, or why it could not be read (unknown topic, bad payload)."""

BatchT = TypeVar("BatchT")
BatchT_contra = TypeVar("BatchT_contra", contravariant=True)


class TrackedStore(Protocol[BatchT_contra]):
    """A read model that records its position in the transaction that writes a batch."""

    def position(self) -> int | None: ...

    def apply(self, batch: BatchT_contra) -> None: ...


def decoded(application: Application[UUID], notifications: Sequence[Notification]) -> list[Decoded]:
    decode = batch_decoder(application.mapper, notifications)
    events: list[Decoded] = []
    for notification in notifications:
        try:
            events.append((notification, decode(notification)))
        except Exception as error:  # unknown topic, or a payload that cannot be read
            events.append((notification, error))
    return events


class BatchProjector(ABC, Generic[BatchT]):
    """Keeps one read model: folds each batch of events and writes it with its position."""

    def __init__(
        self, application: Application[UUID], store: TrackedStore[BatchT], batch_size: int
    ) -> None:
        self.application = application
        self.store = store
        self.batch_size = batch_size
        # The position this projector wrote last; read again from the store after a failure,
        # which is also how it learns that another process moved it.
        self._position: int | None = None

    @abstractmethod
    def fold(self, events: Sequence[Decoded]) -> BatchT:
        """The rows `events` (the next ones past the position) change, and their position."""

    def tend(self) -> None:
        """Housekeeping due between batches, whether or not events came (none by default)."""

    def position(self) -> int:
        if self._position is None:
            self._position = self.store.position() or 0
        return self._position

    def project(self, events: Sequence[Decoded]) -> None:
        """Writes the rows of `events`, the next ones past this projector's position."""
        try:
            self.store.apply(self.fold(events))
        except BaseException:
            self._position = None
            raise
        self._position = events[-1][0].id

    def project_batch(self) -> int:
        """Applies the next batch of events, if any; returns how many were read."""
        self.tend()
        notifications = self.application.recorder.select_notifications(
            self.position(), self.batch_size, inclusive_of_start=False
        )
        if notifications:
            self.project(decoded(self.application, notifications))
        return len(notifications)

    def catch_up(self) -> int:
        """Applies every event recorded so far; returns how many."""
        return catch_up(self.project_batch, self.batch_size)


class Projections:
    """Several projectors of one application's log, fed from one read of each batch.

    The batch starts at the position of the projector furthest behind; each projector writes,
    in its own transaction, the events past its own position. A projector that fails holds
    the others back by one batch at most: the reads start from its position until it recovers.
    """

    def __init__(self, projectors: Sequence[BatchProjector[Any]]) -> None:
        self.projectors = list(projectors)
        self.application = self.projectors[0].application
        self.batch_size = max(projector.batch_size for projector in self.projectors)

    @property
    def recorder(self) -> ApplicationRecorder:
        return self.application.recorder

    def project_batch(self) -> int:
        """Applies the next batch of events to every projector; returns how many were read."""
        for projector in self.projectors:
            projector.tend()
        positions = [projector.position() for projector in self.projectors]
        notifications = self.recorder.select_notifications(
            min(positions), self.batch_size, inclusive_of_start=False
        )
        if notifications:
            events = decoded(self.application, notifications)
            ids = [notification.id for notification in notifications]
            for projector, position in zip(self.projectors, positions, strict=True):
                ahead = events[bisect_right(ids, position) :]
                if ahead:
                    projector.project(ahead)
        return len(notifications)

    def catch_up(self) -> int:
        return catch_up(self.project_batch, self.batch_size)
