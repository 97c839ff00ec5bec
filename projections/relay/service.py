"""The relay as a running service: topic first, then batch after batch, reporting its lag.

While the broker is away the API keeps accepting writes (they wait in the event store); the
relay retries with a growing pause, says how many events are waiting, and catches up when the
broker returns.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from metaledger.domain.profiles import UserProfiles
from metaledger.projections.cloudevents import Origin
from metaledger.projections.follower import Follower, FollowerObserver
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.relay.publisher import ProducerProcess, Publisher
from metaledger.projections.relay.relay import LIVE_BATCH_SIZE, Lag, Relay
from metaledger.projections.relay.topics import TopicSpec

log = logging.getLogger("metaledger.relay")

LAG_REPORT_SECONDS = 10.0


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    topic: TopicSpec
    issuer: str
    batch_size: int = LIVE_BATCH_SIZE
    # The producer in a child process (`metaledger relay`) rather than in this one (embedded).
    producer_process: bool = False


def build_relay(config: RelayConfig, profiles: UserProfiles, position: RelayPosition) -> Relay:
    return Relay(
        profiles,
        position,
        (ProducerProcess if config.producer_process else Publisher)(
            config.bootstrap_servers, config.topic
        ),
        Origin.of(config.issuer, config.topic.name),
        batch_size=config.batch_size,
    )


class RelayWorker:
    """One step of the relay, with the topic made sure of and the lag reported."""

    def __init__(self, relay: Relay, observer: FollowerObserver | None = None) -> None:
        self.relay = relay
        self._topic_ready = False
        self._reported_at = 0.0

    def step(self) -> int:
        if not self._topic_ready:
            if self.relay.publisher.ensure_topic():
                self._say_topic_was_made(self.relay.position.current())
            self._topic_ready = True
        try:
            count = self.relay.publish_batch()
        except Exception:
            # The broker may have lost the topic (a new or wiped cluster): look again first.
            self._topic_ready = False
            raise
        if count == self.relay.batch_size and self._due():
            self._report("publishing", self.relay.lag())
        return count

    def report_failure(self, failures: int) -> None:
        """Says how far behind the relay is when an outage starts (once, not per retry)."""
        if failures == 1:
            with contextlib.suppress(Exception):  # the store may be what is down
                self._report("waiting for the broker", self.relay.lag())

    def _say_topic_was_made(self, position: int) -> None:
        if position == 0:
            return  # a first start: nothing was published yet
        log.warning(
            "relay: topic %s was missing on the broker and has been created again; the events "
            "up to position %d that were published to it before are not on it (publish them "
            "again with `metaledger relay --from 0`)",
            self.relay.origin.stream,
            position,
        )

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._reported_at < LAG_REPORT_SECONDS:
            return False
        self._reported_at = now
        return True

    @staticmethod
    def _report(state: str, lag: Lag) -> None:
        log.warning(
            "relay %s: %d events behind (position %d, last event %d)",
            state,
            lag.events,
            lag.position,
            lag.end,
        )


class RelayService:
    """Started and stopped with the API (embedded), or run in the foreground by `relay`."""

    def __init__(self, relay: Relay, observer: FollowerObserver | None = None) -> None:
        self.relay = relay
        self.worker = RelayWorker(relay)
        self.follower = Follower(
            "relay",
            self.worker.step,
            relay.batch_size,
            relay.profiles.recorder,
            on_failure=self.worker.report_failure,
            observer=observer,
        )

    def start(self) -> None:
        self.follower.start()

    def stop(self) -> None:
        # A relay still in its batch is not closed under it: the batch is published again from
        # the recorded position next time.
        if self.follower.stop():
            self.close()

    def run(self) -> None:
        try:
            self.follower.run()
        finally:
            self.close()

    def request_stop(self) -> None:
        """From a signal handler: the foreground `run` returns after the current batch."""
        self.follower.stop()

    def close(self) -> None:
        self.relay.close()
