"""The relay: reads the next batch of the event log, publishes it, then records its position.

At least once: the position moves only after the broker acknowledged the whole batch, so a
crash or a broker outage at any point makes the relay publish that batch again, and nothing
else, when it resumes. Messages carry the stored event's stable id for consumers to
deduplicate.

An event that cannot be read (unknown topic, unreadable payload) or that does not follow its
user's history is logged and passed over, as the search projector does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification

from domain.profiles import UserProfiles, replay
from domain.storage.shredding import batch_decoder, is_erased
from domain.user import User
from projections.cloudevents import Origin, user_message
from projections.relay.position import RelayPosition
from projections.relay.publisher import Publisher, Record
from projections.relay.states import UserStates

log = logging.getLogger("metaledger.relay")

LIVE_BATCH_SIZE = 2000


@dataclass(frozen=True)
class Lag:
    position: int
    end: int

    @property
    def events(self) -> int:
        return max(self.end - self.position, 0)


class Relay:
    def __init__(
        self,
        profiles: UserProfiles,
        position: RelayPosition,
        publisher: Publisher,
        origin: Origin,
        batch_size: int = LIVE_BATCH_SIZE,
    ) -> None:
        self.profiles = profiles
        self.position = position
        self.publisher = publisher
        self.origin = origin
        self.batch_size = batch_size
        self.states = UserStates(self._load_user)

    def publish_batch(self) -> int:
        """Publishes the next batch of events, if any; returns how many were read."""
        start = self.position.current()
        notifications = self.profiles.recorder.select_notifications(
            start, self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        try:
            self.publisher.publish(self.records(notifications))
        except BaseException:
            # The batch will be read again: the users it folded are not as published.
            self.states = UserStates(self._load_user)
            raise
        self.position.record(notifications[-1].id)
        return len(notifications)

    def catch_up(self) -> int:
        """Publishes every event recorded so far; returns how many were read."""
        events = 0
        while (count := self.publish_batch()) > 0:
            events += count
            if count < self.batch_size:
                break
        return events

    def lag(self) -> Lag:
        return Lag(self.position.current(), self.profiles.recorder.max_notification_id() or 0)

    def records(self, notifications: Sequence[Notification]) -> Iterator[Record]:
        """The messages of a batch, in log order (tombstones after their user.deleted)."""
        decode = batch_decoder(self.profiles.mapper, notifications)
        for notification in notifications:
            try:
                event = decode(notification)
                if not isinstance(event, User.Event):
                    raise TypeError("not a user event")
                transition = self.states.apply(event)
            except Exception as error:
                log.warning(
                    "passed over event %s (%s): %r", notification.id, notification.topic, error
                )
                continue
            message = user_message(
                event, notification.id, transition.before, transition.after, self.origin
            )
            key = message["subject"].encode()
            yield Record(key, orjson.dumps(message))
            if isinstance(event, User.UserDeleted) and is_erased(event):
                yield Record(key, None)  # compacted topics then drop the user entirely

    def _load_user(self, aggregate_id: UUID, version: int) -> User | None:
        try:
            user: User = self.profiles.repository.get(
                aggregate_id, version=version, projector_func=replay
            )
        except AggregateNotFoundError:
            return None
        return user if user.version == version else None
