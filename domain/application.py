"""The event-sourced application under the user commands: the library's `Application` with
metaledger's transcoder, crypto-shredding mapper and group commit, and typed access to the
tables kept beside the events (the domain's ports)."""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    EventStore,
    InterfaceError,
    Mapper,
    OperationalError,
    Recording,
    StoredEvent,
)
from eventsourcing.utils import get_topic

from metaledger.domain.group_commit import GroupCommit
from metaledger.domain.ports import (
    CommitObserver,
    EmailIndex,
    EventRows,
    TablesBesideEvents,
    TimeIndex,
    UserKeys,
)
from metaledger.domain.storage.shredding import (
    KeyRing,
    SealedStoredEvent,
    SealingEventStore,
    ShreddingMapper,
)
from metaledger.domain.storage.transcoder import OrjsonTranscoder
from metaledger.domain.storage.user_keys import NewKey
from metaledger.domain.user import User

log = logging.getLogger("metaledger.domain")
USER_CREATED_TOPIC = get_topic(User.UserCreated)  # type: ignore[attr-defined]


class UncachedSave(ProcessingEvent[UUID]):
    """A save whose users stay out of the aggregate cache: a bulk import's thousands of new
    users would only push out the users being worked on."""


class Batch(ProcessingEvent[UUID]):
    """The saves committed together, and which of their users stay out of the cache."""

    def __init__(self) -> None:
        super().__init__()
        self.uncached: set[UUID] = set()


class ProfilesApplication(Application[UUID]):
    """Stores users' events; concurrent saves share one transaction (group commit)."""

    name = "UserProfiles"
    snapshotting_intervals = {User: 50}  # noqa: RUF012  (the library reads a class attribute)

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        recorder = self.recorder
        if not isinstance(recorder, TablesBesideEvents):
            raise TypeError(f"{type(recorder).__name__} keeps no tables beside the events")
        self._beside: TablesBesideEvents = recorder
        self._group_commit = GroupCommit(self._record_batch)
        # Set by the composition root to measure the writes (metrics); none by default.
        self.commit_observer: CommitObserver | None = None

    @property
    def email_index(self) -> EmailIndex:
        return self._beside

    @property
    def user_keys(self) -> UserKeys:
        return self._beside

    @property
    def time_index(self) -> TimeIndex:
        return self._beside

    @property
    def event_rows(self) -> EventRows:
        return self._beside

    @property
    def shredding_mapper(self) -> ShreddingMapper:
        """The mapper, as the readers that decode stored events in bulk need it."""
        return self._shredding_mapper

    def construct_transcoder(self) -> OrjsonTranscoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        # The library builds the recorder after the mapper: keys are loaded through it lazily.
        self.keys = KeyRing(lambda ids: self.user_keys.user_keys_of(ids))
        self._shredding_mapper = ShreddingMapper(self.construct_transcoder(), self.keys)
        return self._shredding_mapper

    def construct_event_store(self) -> EventStore[UUID]:
        return SealingEventStore(self.mapper, self.recorder)

    def save(self, *objs: Any, cached: bool = True, **kwargs: Any) -> list[Recording[UUID]]:
        """Stores the objects' new events; concurrent saves share one transaction.

        Keyword arguments are lists (like `email_claims`) that the recorder writes in the same
        transaction; a batch concatenates them. Without `cached`, the users are not put in
        the aggregate cache (and leave it, if they were there).
        """
        pending: ProcessingEvent[UUID] = ProcessingEvent() if cached else UncachedSave()
        for obj in objs:
            if isinstance(obj, User):
                # What the library's collect_events does, without its runtime-Protocol checks,
                # which cost more than the rest of a bulk import's save.
                pending.events.extend(obj.collect_events())
                pending.aggregates[obj.id] = obj
            else:
                pending.collect_events(obj)
        pending.saved_kwargs.update(kwargs)
        return self._group_commit.submit(pending)

    def insert_sealed(self, creations: Sequence[SealedCreation], **kwargs: Any) -> None:
        """Stores new users' UserCreated events sealed beforehand (by `new_users_sealer`) in
        one transaction with the lists of `kwargs`, as `save` stores events; a conflict
        raises as it does from `save`."""
        started = time.perf_counter()
        self.recorder.insert_events([_stored_creation(c) for c in creations], **kwargs)
        if self.commit_observer is not None:
            self.commit_observer.committed(1, len(creations), time.perf_counter() - started)

    def _record_batch(
        self, batch: list[ProcessingEvent[UUID]]
    ) -> list[list[Recording[UUID]] | BaseException]:
        """Commits the batch together; a save of a user that an earlier save of the batch also
        writes cannot succeed with it, so it is committed alone afterwards."""
        started = time.perf_counter()
        outcomes: dict[int, list[Recording[UUID]] | BaseException] = {}
        written: set[UUID] = set()
        together: list[tuple[int, ProcessingEvent[UUID]]] = []
        after: list[tuple[int, ProcessingEvent[UUID]]] = []
        for index, pending in enumerate(batch):
            users = {event.originator_id for event in pending.events}
            (after if users & written else together).append((index, pending))
            written |= users
        self._record_halving(together, outcomes)
        for index, pending in after:
            self._record_halving([(index, pending)], outcomes)
        if self.commit_observer is not None:
            events = sum(len(o) for o in outcomes.values() if not isinstance(o, BaseException))
            self.commit_observer.committed(len(batch), events, time.perf_counter() - started)
        return [outcomes[index] for index in range(len(batch))]

    def _record_halving(
        self,
        saves: list[tuple[int, ProcessingEvent[UUID]]],
        outcomes: dict[int, list[Recording[UUID]] | BaseException],
    ) -> None:
        """Commits the saves together; when that fails, each half on its own, and so on down
        to the saves that fail (a few commits rather than one per save). A store that does not
        answer fails the saves at once: the recorder has retried it already."""
        together = self._together([pending for _, pending in saves])
        try:
            recordings = self._record(together)
        except (InterfaceError, OperationalError) as error:
            outcomes.update((index, error) for index, _ in saves)
            return
        except Exception as error:  # a conflict, or any statement the store refused
            if len(saves) == 1:
                outcomes[saves[0][0]] = error
                return
            middle = len(saves) // 2
            self._record_halving(saves[:middle], outcomes)
            self._record_halving(saves[middle:], outcomes)
            return
        start = 0
        for index, pending in saves:
            outcomes[index] = recordings[start : start + len(pending.events)]
            start += len(pending.events)
        self._after_commit(together, recordings)

    @staticmethod
    def _together(batch: list[ProcessingEvent[UUID]]) -> Batch:
        together = Batch()
        for pending in batch:
            if isinstance(pending, UncachedSave):
                together.uncached.update(pending.aggregates)
            together.events.extend(pending.events)
            together.aggregates.update(pending.aggregates)
            for name, values in pending.saved_kwargs.items():
                together.saved_kwargs.setdefault(name, []).extend(values)
        return together

    def _after_commit(
        self, saved: ProcessingEvent[UUID], recordings: list[Recording[UUID]]
    ) -> None:
        """The work that follows a commit. The saves are stored whatever happens here, so a
        failure is logged rather than reported to them (a retry would store them twice)."""
        try:
            self._cache_saved(saved)
            self._take_snapshots(saved)
            self._notify(recordings)
        except Exception:
            log.exception("after storing %d events", len(saved.events))

    def _cache_saved(self, saved: ProcessingEvent[UUID]) -> None:
        """Puts the saved users in the aggregate cache as of the events just written. The
        library only fast-forwards a cached aggregate on its next read, which would read and
        decrypt those events again; a copy is cached, as the command's own object is the one
        the caller goes on reading. A deleted user leaves the cache."""
        cache = self.repository.cache
        if cache is None:
            return
        uncached = saved.uncached if isinstance(saved, Batch) else set()
        for aggregate_id, aggregate in saved.aggregates.items():
            if (
                isinstance(aggregate, User)
                and not aggregate.deleted
                and aggregate_id not in uncached
            ):
                cache.put(aggregate_id, copy.deepcopy(aggregate))
            else:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)


class SealedCreation(NamedTuple):
    """A new user's UserCreated as the mapper stores it, in plain values: what a bulk
    import's worker processes hand to the writing process (a pickle of these is read many
    times faster than one of the stored event objects)."""

    aggregate_id: bytes
    user_id: str
    state: bytes
    recorded_at: datetime
    key: bytes


def new_users_sealer() -> Callable[[DomainEventProtocol[UUID]], SealedCreation]:
    """Maps new users' UserCreated events as the application's mapper does, outside any
    application (in a bulk import's worker processes): each brings a key of its own, so none
    is looked up."""
    to_stored = ShreddingMapper(OrjsonTranscoder(), KeyRing(lambda ids: {})).to_stored_event

    def seal(created: DomainEventProtocol[UUID]) -> SealedCreation:
        stored = to_stored(created)
        if stored.new_key is None:
            raise TypeError(f"{type(created).__name__} does not create a user")
        return SealedCreation(
            created.originator_id.bytes,
            stored.new_key.user_id,
            stored.state,
            stored.recorded_at,
            stored.new_key.key,
        )

    return seal


def _stored_creation(creation: SealedCreation) -> SealedStoredEvent:
    aggregate_id = UUID(bytes=creation.aggregate_id)
    return SealedStoredEvent(
        originator_id=aggregate_id,
        originator_version=User.INITIAL_VERSION,
        topic=USER_CREATED_TOPIC,
        state=creation.state,
        recorded_at=creation.recorded_at,
        new_key=NewKey(aggregate_id, creation.user_id, creation.key),
    )


def batch_decoder(
    mapper: Mapper[UUID], stored_events: Iterable[StoredEvent]
) -> Callable[[StoredEvent], DomainEventProtocol[UUID]]:
    """How to decode each of `stored_events` with `mapper`, whatever mapper it is."""
    if isinstance(mapper, ShreddingMapper):
        return mapper.batch_decoder(stored_events)
    return mapper.to_domain_event
