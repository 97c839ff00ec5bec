"""The tenant-wide change feed: every user's events in global (commit) order.

Positions are the event store's notification ids: increasing, not contiguous. A reader keeps
the `next` position of each page and asks for the events after it, which is what the relay does
for Kafka and what an audit export or a polling service can do over HTTP. Exports read many
events at a time, so a page is decoded straight from the rows with one key lookup for all its
users, without building event objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import resolve_topic

from metaledger.domain.ports import as_uuid
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.timeline import EVENT_TOPICS, Entry, describe, event_name
from metaledger.domain.upcasting import upcast
from metaledger.domain.user import user_aggregate_id

# Event class and name by stored topic, resolved once rather than per event.
KINDS = {topic: (resolve_topic(topic), event_name(topic)) for topic in EVENT_TOPICS.values()}


@dataclass(slots=True)
class FeedItem:
    position: int
    user_id: str | None
    entry: Entry

    def as_dict(self) -> dict[str, Any]:
        return self.entry.as_dict(position=self.position, user_id=self.user_id)


@dataclass(frozen=True)
class FeedPage:
    items: list[FeedItem]
    next: int  # the position to read after; equal to `after` when nothing new was found


class ChangeFeed:
    def __init__(self, profiles: UserProfiles) -> None:
        self.keys = profiles.keys
        self.mapper = profiles.shredding_mapper
        self.log = profiles.event_rows

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
        rows = self.log.events_after(after, take, sorted(EVENT_TOPICS[name] for name in events))
        if not rows:
            return FeedPage([], after)
        ids = {raw: as_uuid(raw) for raw in {row["originator_id"] for row in rows}}
        wanted = rows
        if user_id is not None:
            only = user_aggregate_id(user_id)
            wanted = [row for row in rows if ids[row["originator_id"]] == only]
        keys = self.keys.lookup({ids[row["originator_id"]] for row in wanted})
        items = []
        for row in wanted:
            aggregate_id = ids[row["originator_id"]]
            key = keys[aggregate_id]
            topic, version = row["topic"], row["originator_version"]
            fields = self.mapper.decode_state(
                aggregate_id, version, topic, bytes(row["state"]), key.cipher
            )
            cls, name = KINDS.get(topic) or (resolve_topic(topic), event_name(topic))
            upcast(cls, fields)
            user = key.record.user_id if key.record else None
            items.append(FeedItem(row["position"], user, describe(name, version, fields)))
        return FeedPage(items, rows[-1]["position"])
