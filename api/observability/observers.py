"""The observers the composition root gives the domain, the followers, the login and the
consumers: each thing they report becomes metrics and, for background work, one log line."""

from __future__ import annotations

import logging
from functools import cache

from metaledger.api.observability.metrics import Metrics, process_metrics
from metaledger.consumers.messages import ChangeEvent

log = logging.getLogger("metaledger.background")


class Telemetry:
    """Implements the domain's CommitObserver, FollowerObserver, ConsumerObserver and the
    jobs' JobObserver."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def committed(self, saves: int, events: int, seconds: float) -> None:
        self.metrics.commit_duration.observe(seconds)
        self.metrics.commit_saves.observe(saves)
        self.metrics.committed_events.inc(events)

    def batch(self, follower: str, events: int, seconds: float) -> None:
        self.metrics.follower_events.labels(follower).inc(events)
        self.metrics.follower_batch_duration.labels(follower).observe(seconds)
        duration = round(seconds * 1000, 2)
        log.info(
            "%s: %d events in %.1f ms",
            follower,
            events,
            duration,
            extra={"follower": follower, "events": events, "duration_ms": duration},
        )

    def failed(self, follower: str, error: Exception) -> None:
        self.metrics.follower_failures.labels(follower).inc()

    def login(self, outcome: str) -> None:
        self.metrics.logins.labels(outcome).inc()

    def handled(self, consumer: str, event: ChangeEvent, seconds: float) -> None:
        self.metrics.consumer_events.labels(consumer, "handled").inc()
        duration = round(seconds * 1000, 2)
        log.info(
            "%s: %s %s at position %d in %.1f ms",
            consumer,
            event.type,
            event.id,
            event.position,
            duration,
            extra={
                "consumer": consumer,
                "event_id": event.id,
                "event_type": event.type,
                "position": event.position,
                "duration_ms": duration,
            },
        )

    def job_progress(self, job_type: str, lines: int) -> None:
        self.metrics.job_lines.labels(job_type).set(lines)

    def job_ended(self, job_type: str, status: str) -> None:
        self.metrics.jobs_ended.labels(job_type, status).inc()

    def dead_lettered(self, consumer: str, error: Exception) -> None:
        self.metrics.consumer_events.labels(consumer, "dead_lettered").inc()

    def lag(self, consumer: str, messages: int) -> None:
        self.metrics.consumer_lag.labels(consumer).set(messages)


@cache
def process_telemetry() -> Telemetry:
    """This process's observer, over its metrics."""
    return Telemetry(process_metrics())
