"""The service's Prometheus metrics (prometheus-client), one set per process, and the server
that exposes them on the metrics port.

`serve` runs several HTTP processes: each writes its values to files in a directory made fresh
for the run (prometheus-client's multiprocess mode), and the supervisor's metrics server adds
them up. Label values come from small fixed sets (route templates, not paths; known methods;
status codes), so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache, partial
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from metaledger.api.settings import Settings

log = logging.getLogger("metaledger.metrics")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# `serve`'s metrics directories, in the temporary directory: the prefix, then the process id.
DIRECTORY_PREFIX = "metaledger-metrics-"
# Where `serve` listens for scrapes unless METALEDGER_METRICS_PORT says otherwise (the default
# port of OpenTelemetry's Prometheus exporter, which scrape configurations often already know).
DEFAULT_SERVE_PORT = 9464
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# Group commit batches hold 1 to 256 saves.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every metric a metaledger process records."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        counter = partial(Counter, registry=registry)
        histogram = partial(Histogram, registry=registry)
        request = ("method", "route", "status")
        self.http_requests = counter(
            "metaledger_http_requests", "HTTP requests by method, route template, status.", request
        )
        self.http_duration = histogram(
            "metaledger_http_request_duration_seconds",
            "Time from a request's head to the end of its response.",
            request,
        )
        self.commit_duration = histogram(
            "metaledger_event_store_commit_duration_seconds",
            "Time one group commit (one transaction) takes to write its saves' events.",
        )
        self.commit_saves = histogram(
            "metaledger_event_store_commit_saves",
            "Saves (requests' writes) that one group commit wrote together.",
            buckets=BATCH_BUCKETS,
        )
        self.committed_events = counter(
            "metaledger_event_store_events", "Events written to the event store."
        )
        follower = ("follower",)
        self.follower_events = counter(
            "metaledger_follower_events", "Events a follower (search, relay) read.", follower
        )
        self.follower_batch_duration = histogram(
            "metaledger_follower_batch_duration_seconds", "Time of a follower's batch.", follower
        )
        self.follower_failures = counter(
            "metaledger_follower_failures",
            "Failed batches of a follower (for the relay: sends the broker did not take).",
            follower,
        )
        self.logins = counter(
            "metaledger_logins",
            "Password logins by outcome: success, wrong_credentials, blocked_user, "
            "too_many_attempts (user and IP locked out), suspicious_ip (IP locked out).",
            ("outcome",),
        )
        self.consumer_events = counter(
            "metaledger_consumer_events",
            "Change events a consumer handled, by outcome (handled, dead_lettered).",
            ("consumer", "outcome"),
        )
        self.job_lines = Gauge(
            "metaledger_job_lines",
            "Lines (users) the latest checkpoint of a running job of this type reached.",
            ("type",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.jobs_ended = counter(
            "metaledger_jobs", "Bulk jobs ended, by type and status.", ("type", "status")
        )
        # Consumers run in processes of their own (`metaledger consume`), never in `serve`'s.
        self.consumer_lag = Gauge(
            "metaledger_consumer_lag_messages",
            "Messages on a consumer's partitions past its position.",
            ("consumer",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )


@cache
def process_metrics() -> Metrics:
    """This process's metrics, made on first use: after `multiprocess_directory` in the
    processes of `serve`, so that they write to its directory."""
    registry = None if MULTIPROCESS_VARIABLE in os.environ else exposition_registry()
    return Metrics(registry)


@cache
def exposition_registry() -> CollectorRegistry:
    """What this process's metrics server shows: its own metrics, or in multiprocess mode
    every process's, read from the directory's files."""
    registry = CollectorRegistry()
    if MULTIPROCESS_VARIABLE in os.environ:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """A fresh directory for the metrics of this process and the HTTP processes it spawns
    (they inherit the variable), removed at the end. Must come before `process_metrics`."""
    _remove_left_behind()
    directory = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)
    # prometheus-client picks how values are kept when it is imported, which happened before
    # the directory existed; the choice is made again from the variable now set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        shutil.rmtree(directory, ignore_errors=True)


def _remove_left_behind() -> None:
    """Removes the directories of runs that ended without removing theirs (killed): their
    process is gone."""
    for directory in Path(tempfile.gettempdir()).glob(f"{DIRECTORY_PREFIX}*-*"):
        pid = directory.name.removeprefix(DIRECTORY_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def process_ended(pid: int | None) -> None:
    """An HTTP process is gone: its live gauges stop counting (its counters stay summed)."""
    if pid is not None and MULTIPROCESS_VARIABLE in os.environ:
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_metrics(
    settings: Settings, collectors: Iterable[Collector] = (), default_port: int | None = None
) -> bool:
    """Starts the metrics server in a thread (`/metrics`, Prometheus' text format) on the
    settings' metrics port, else on `default_port`, else nowhere (0 turns metrics off too).
    A port already taken is logged, not fatal: the service runs on without metrics."""
    port = default_port if settings.metrics_port is None else settings.metrics_port
    if not port:
        return False
    host = settings.metrics_host
    registry = exposition_registry()
    for collector in collectors:
        registry.register(collector)
    try:
        start_http_server(port, host, registry)
    except OSError as error:
        log.warning("metrics are not served on %s:%d: %s", host, port, error)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True


def route_label(method: str, route: str | None) -> tuple[str, str]:
    """The method and route labels of a request: bounded sets whatever the client sent."""
    return (method if method in METHODS else "OTHER", route or UNMATCHED_ROUTE)
