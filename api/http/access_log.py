"""Each request's record: one access-log line (method, path, route, status, duration, request
id, actor; never the query string, headers or body, where tokens and personal data travel) and
its count and duration in the metrics. One pure ASGI middleware does both, cheaply: a timer,
and the status noted on the way out."""

from __future__ import annotations

import logging
import time

from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metaledger.api.logs import ACCESS_LOGGER
from metaledger.api.observability.metrics import Metrics, route_label

log = logging.getLogger(ACCESS_LOGGER)

Series = tuple[Counter, Histogram]


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled series of each (method, route, status), looked up once: the labels
        # come from bounded sets, so this stays small.
        self._series: dict[tuple[str, str, str], Series] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            method, template = route_label(scope["method"], getattr(route, "path", None))
            requests, durations = self._series_of(method, template, str(status))
            requests.inc()
            durations.observe(seconds)
            # A server-side failure (a 503 while not ready, a search out of time) still shows
            # at a level that leaves the other lines out.
            level = logging.WARNING if status >= 500 else logging.INFO
            if log.isEnabledFor(level):
                _log_line(scope, template, status, seconds, level)

    def _series_of(self, method: str, route: str, status: str) -> Series:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.metrics.http_requests.labels(*key),
                self.metrics.http_duration.labels(*key),
            )
        return series


def _log_line(scope: Scope, route: str, status: int, seconds: float, level: int) -> None:
    state = scope.get("state", {})
    request_id = state.get("request_id", "-")
    actor = state.get("actor")
    duration = round(seconds * 1000, 2)
    # The record is made and handed to the handlers directly: `Logger.log` would also walk the
    # stack for the caller's file and line, which no format shows.
    record = log.makeRecord(
        log.name,
        level,
        __file__,
        0,
        "%s %s %d %.1f ms request %s%s",
        (
            scope["method"],
            scope["path"],
            status,
            duration,
            request_id,
            f" by {actor}" if actor else "",
        ),
        None,
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": duration,
            "request_id": request_id,
            "actor": actor,
        },
    )
    log.handle(record)
