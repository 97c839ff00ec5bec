"""A user's history: their events, newest first, filtered and paginated.

Event names and time ranges narrow the stored events before anything is decoded (the topic is
stored in the clear, times come from the timestamp → version index); only a filter on the keys
a change touched needs the decoded payloads. Deleted users keep their history; erased users
keep its shape (versions, times, actors) with payloads marked erased.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from metaledger.domain.errors import UserNotFound
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.timeline import Entry, entry_for, event_name
from metaledger.domain.user import user_aggregate_id

ONE_MICROSECOND = timedelta(microseconds=1)
# `scan` reads this many versions first, then twice as many each time up to the maximum.
SCAN_WINDOW = 100
MAX_SCAN_WINDOW = 2000


@dataclass(frozen=True)
class HistoryFilter:
    events: frozenset[str] = field(default_factory=frozenset)  # event names; empty: all
    key: str | None = None  # a change key, or a prefix of one (`app_metadata`)
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def wants(self, stored: StoredEvent) -> bool:
        return not self.events or event_name(stored.topic) in self.events


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    total: int


@dataclass(frozen=True)
class Checkpoint:
    entries: list[Entry]
    next: int | None  # pass as `before` for the following page; None at the oldest


class UserHistory:
    def __init__(self, profiles: UserProfiles) -> None:
        self.profiles = profiles
        self.times = profiles.time_index

    def page(self, user_id: str, where: HistoryFilter, page: int, per_page: int) -> Page:
        candidates = self._candidates(user_id, where, before=None)
        start = page * per_page
        if where.key is None:
            chosen = candidates[start : start + per_page]
            return Page([self._entry(stored) for stored in chosen], len(candidates))
        matches = list(self._matches(candidates, where.key))
        return Page(matches[start : start + per_page], len(matches))

    def checkpoint(
        self, user_id: str, where: HistoryFilter, before: int | None, take: int
    ) -> Checkpoint:
        candidates = self._candidates(user_id, where, before)
        entries = list(islice(self._matches(candidates, where.key), take + 1))
        more = len(entries) > take
        entries = entries[:take]
        return Checkpoint(entries, entries[-1].version if more else None)

    def _candidates(
        self, user_id: str, where: HistoryFilter, before: int | None
    ) -> Sequence[StoredEvent]:
        """The stored events in range and of the wanted names, newest first."""
        aggregate_id = self._known(user_id)
        gt = self._version_before(aggregate_id, where.since)
        lte = self._version_before(aggregate_id, where.until) if where.until else None
        if where.until and lte is None:
            return []
        if before is not None:
            lte = min(lte, before - 1) if lte is not None else before - 1
        recorder = self.profiles.recorder
        stored = recorder.select_events(aggregate_id, gt=gt, lte=lte, desc=True)
        return [event for event in stored if where.wants(event)]

    def scan(
        self,
        user_id: str,
        where: HistoryFilter,
        before: int | None,
        take: int,
        budget: int | None = None,
    ) -> Checkpoint:
        """`checkpoint`, reading the stream newest first in windows of versions and stopping once
        `take` entries matched: a page costs the events it passes over, not the whole stream.
        With a `budget`, it also stops once it passed over that many versions, and the page may
        be short: `next` then continues below the last version read. For pages of a long
        history; `where` has no time range here."""
        aggregate_id = self._known(user_id)
        top = (before - 1) if before is not None else self._newest(aggregate_id)
        window = max(take, SCAN_WINDOW)
        entries: list[Entry] = []
        scanned = 0
        while top > 0 and len(entries) <= take:
            if budget is not None and scanned >= budget:
                return Checkpoint(entries, top + 1)
            rows = self.profiles.recorder.select_events(
                aggregate_id, gt=max(0, top - window), lte=top, desc=True
            )
            wanted = [stored for stored in rows if where.wants(stored)]
            entries.extend(islice(self._matches(wanted, where.key), take + 1 - len(entries)))
            top -= window
            scanned += window
            window = min(window * 2, MAX_SCAN_WINDOW)  # sparse matches: fewer, larger reads
        more = len(entries) > take
        entries = entries[:take]
        return Checkpoint(entries, entries[-1].version if more else None)

    def _newest(self, aggregate_id: UUID) -> int:
        """The user's last version: one indexed row read, nothing decoded."""
        newest = self.profiles.recorder.select_events(aggregate_id, desc=True, limit=1)
        return newest[0].originator_version if newest else 0

    def _known(self, user_id: str) -> UUID:
        """The user's aggregate id; not found unless they have a key record (erased or not)."""
        aggregate_id = user_aggregate_id(user_id)
        # Read the key afresh: another process may have erased the user a moment ago.
        self.profiles.keys.forget(aggregate_id)
        if self.profiles.keys.record(aggregate_id) is None:
            raise UserNotFound("The user does not exist.")
        return aggregate_id

    def _version_before(self, aggregate_id: UUID, moment: datetime | None) -> int | None:
        if moment is None:
            return None
        return self.times.version_at(aggregate_id, moment - ONE_MICROSECOND)

    def _matches(self, candidates: Sequence[StoredEvent], key: str | None) -> Iterator[Entry]:
        for stored in candidates:
            entry = self._entry(stored)
            if key is None or entry.touches(key):
                yield entry

    def _entry(self, stored: StoredEvent) -> Entry:
        return entry_for(self.profiles.mapper.to_domain_event(stored))
