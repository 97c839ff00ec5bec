"""One log line per request: method, path, status, duration and request id (never the query
string, headers or body, where tokens and personal data travel)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("metaledger.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
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
            duration = (time.perf_counter() - started) * 1000
            request_id = scope.get("state", {}).get("request_id", "-")
            log.info(
                "%s %s %d %.1f ms request %s",
                scope["method"],
                scope["path"],
                status,
                duration,
                request_id,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(duration, 2),
                    "request_id": request_id,
                },
            )
