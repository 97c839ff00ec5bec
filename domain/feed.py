"""The tenant-wide change feed: every user's events in global (commit) order.

Positions are the event store's notification ids: increasing, not contiguous. A reader keeps
the `next` position of each page and asks for the events after it, which is what the relay does
for Kafka and what an audit export or a polling service can do over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.profiles import UserProfiles
from domain.storage.dialect import as_uuid
from domain.timeline import EVENT_TOPICS, Entry, entry_for
from domain.user import user_aggregate_id


@dataclass(frozen=True)
class FeedItem:
    position: int
    user_id: str | None
    entry: Entry

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "user_id": self.user_id, **self.entry.as_dict()}


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    next: int  # the position to read after; equal to `after` when nothing new was found


class ChangeFeed:
    def __init__(self, profiles: UserProfiles) -> None:
        self.profiles = profiles

    def read(
        self,
        after: int,
        take: int,
        events: frozenset[str] = frozenset(),
        user_id: str | None = None,
    ) -> FeedPage:
        """Up to `take` events after position `after`, of the named events if any are given.

        A `user_id` filter applies within those `take` events, so a page may hold fewer than
        `take` items before the end of the log; `next` always moves past what was scanned.
        """
        notifications = self.profiles.recorder.select_notifications(
            after,
            take,
            topics=sorted(EVENT_TOPICS[name] for name in events),
            inclusive_of_start=False,
        )
        if not notifications:
            return FeedPage([], after)
        only = user_aggregate_id(user_id) if user_id is not None else None
        wanted = [n for n in notifications if only is None or n.originator_id == only]
        keys = self.profiles.keys
        keys.prefetch(as_uuid(n.originator_id) for n in wanted)
        mapper = self.profiles.mapper
        items = [
            FeedItem(
                n.id, keys.user_id(as_uuid(n.originator_id)), entry_for(mapper.to_domain_event(n))
            )
            for n in wanted
        ]
        return FeedPage(items, notifications[-1].id)
