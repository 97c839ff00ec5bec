"""The relay: reads the next batch of the event log, publishes it, then records its position.

At least once: the position moves only after the broker acknowledged the whole batch, so a
crash or a broker outage at any point makes the relay publish that batch again, and nothing
else, when it resumes. Messages carry the stored event's stable id for consumers to
deduplicate.

An event that cannot be read (unknown topic, unreadable payload) or that does not follow its
user's history is logged and passed over, as the search projector does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification

from metaledger.domain.application import batch_decoder
from metaledger.domain.erasure import is_erased
from metaledger.domain.profiles import UserProfiles, replay
from metaledger.domain.user import User
from metaledger.projections.cloudevents import Origin, user_message
from metaledger.projections.follower import catch_up
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.relay.publisher import BatchPublisher, Record, Sending
from metaledger.projections.relay.states import UserStates

log = logging.getLogger("metaledger.relay")

LIVE_BATCH_SIZE = 2000


@dataclass(frozen=True)
class Lag:
    position: int
    end: int

    @property
    def events(self) -> int:
        return max(self.end - self.position, 0)


@dataclass(frozen=True)
class _InFlight:
    sending: Sending
    end: int  # the position of the batch's last event


class Relay:
    def __init__(
        self,
        profiles: UserProfiles,
        position: RelayPosition,
        publisher: BatchPublisher,
        origin: Origin,
        batch_size: int = LIVE_BATCH_SIZE,
    ) -> None:
        self.profiles = profiles
        self.position = position
        self.publisher = publisher
        self.origin = origin
        self.batch_size = batch_size
        self.states = UserStates(self._load_user)
        self._in_flight: _InFlight | None = None

    def publish_batch(self) -> int:
        """Publishes the next batch of events, if any; returns how many were read.

        A full batch (more are waiting) is left in flight: the next call reads and renders
        the batch after it while the broker takes it, then waits for its acknowledgement and
        records its position before sending on. A batch that is not full is waited for at
        once, so a relay that caught up has recorded everything it sent.
        """
        after = self._in_flight.end if self._in_flight else self.position.current()
        notifications = self.profiles.recorder.select_notifications(
            after, self.batch_size, inclusive_of_start=False
        )
        try:
            records = list(self.records(notifications))
            self._settle()
            if not notifications:
                return 0
            self._in_flight = _InFlight(self.publisher.send(records), notifications[-1].id)
            if len(notifications) < self.batch_size:
                self._settle()
        except BaseException:
            # Read again from the recorded position: the users folded are not as published.
            self._abandon()
            self.states = UserStates(self._load_user)
            raise
        return len(notifications)

    def catch_up(self) -> int:
        """Publishes every event recorded so far; returns how many were read."""
        return catch_up(self.publish_batch, self.batch_size)

    def close(self) -> None:
        """Waits for the batch in flight, then lets go of the broker and the position."""
        try:
            self._settle()
        except Exception as error:  # published again from the recorded position next time
            log.warning("the last batch was not acknowledged: %r", error)
        finally:
            self._in_flight = None
            self.publisher.close()
            self.position.close()

    def _settle(self) -> None:
        """Waits for the batch in flight, if any, and records its position."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.sending.wait()
            self.position.record(in_flight.end)

    def _abandon(self) -> None:
        """Lets the batch in flight finish unrecorded (its answer must not be taken for the
        next batch's)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            with contextlib.suppress(Exception):
                in_flight.sending.wait()

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
