"""HTTP connections a client cannot hold: read deadlines, caps, Auth0 bodies for refusals.

uvicorn's httptools protocol, extended. On its own, uvicorn times out only the idle time after a
response: a connection that never sends a request, sends its head a byte at a time, or trickles
a body nobody reads is kept forever; a head has no size limit; and malformed requests get a
plain-text 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from metaledger.api.http.errors import error_response
from metaledger.api.settings import Settings

# A body the app reads gets the app's 408 at the body deadline (`BodyDeadlineMiddleware`); the
# connection is closed this much later, which only matters when nobody reads the body.
UNREAD_BODY_GRACE = 1.0


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of an HTTP process, and how long a stop may take (seconds)."""

    header_timeout: int
    body_timeout: int
    max_header_bytes: int
    max_connections: int
    stop_timeout: int

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
            stop_timeout=settings.shutdown_timeout_seconds,
        )


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration with the limits, which its connections read."""

    def __init__(self, app: FastAPI, limits: ServerLimits, **options: Any) -> None:
        super().__init__(
            app,
            http=LimitedHttpProtocol,
            # Requests in progress get half the time a stop may take; the app's shutdown and the
            # process's exit the rest.
            timeout_graceful_shutdown=max(1, limits.stop_timeout // 2),
            **options,
        )
        self.limits = limits


class _HeadTooLarge(Exception):
    """Raised in a parser callback, which stops the parser."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """Deadlines for reading a request, caps on its head and on connections, and Auth0's body
    for every refusal."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not isinstance(config, ServerConfig):
            raise TypeError("LimitedHttpProtocol needs a ServerConfig")
        self.limits = config.limits
        self._deadline: asyncio.TimerHandle | None = None
        # Bytes received since the last head ended; between a head and the end of its body they
        # are body bytes, not counted.
        self._head_bytes = 0
        self._in_body = False
        self._head_begun = False
        self._refusal: tuple[int, str, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # Its request is answered with 503 and the connection closed.
            self.app = _over_capacity
        # A connection that sends nothing is closed after the header timeout too.
        self._arm(self.limits.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._head_bytes += len(data)
        super().data_received(data)
        # A head still arriving past the limit is refused before it is complete: it is held in
        # memory until then.
        if (
            not self._in_body
            and self._head_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(*self._head_too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._deadline is None:  # the first request's deadline runs from the connection
            self._arm(self.limits.header_timeout, self._head_too_slow)

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self.limits.max_header_bytes:  # a head that came whole in one read
            self._refusal = self._head_too_large()
            raise _HeadTooLarge  # the parser stops, and uvicorn calls `send_400_response`
        self._head_begun = False
        self._in_body = True
        self._head_bytes = 0
        self._arm(self.limits.body_timeout + UNREAD_BODY_GRACE, self._close)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refuses (a malformed Content-Length…)."""
        self._refuse(*(self._refusal or (400, msg, "invalid_request")))

    def _head_too_large(self) -> tuple[int, str, str]:
        if not self.headers or len(self.url) > self.limits.max_header_bytes:
            return 414, "Request-URI Too Large.", "invalid_uri"
        return 431, "Request header fields are too large.", "invalid_headers"

    def _head_too_slow(self) -> None:
        if self._head_begun:
            self._refuse(408, "The request was not received in time.", "request_timeout")
        else:  # idle: there is no request to answer
            self._close()

    def _refuse(self, status: int, message: str, error_code: str) -> None:
        """Answers with Auth0's error body and closes the connection; only closes it while the
        previous request's response is being sent, which the answer would garble."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            body = error_response(status, message, error_code).body
            headers = [
                *self.server_state.default_headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            self.transport.write(
                b"".join([STATUS_LINE[status], *(b"%s: %s\r\n" % header for header in headers)])
                + b"\r\n"
                + body
            )
        self._close()

    def _close(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _arm(self, seconds: float, expire: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


async def _over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        503,
        "Too many connections; try again later.",
        "temporarily_unavailable",
        {"Connection": "close", "Retry-After": "1"},
    )
    await response(scope, receive, send)
