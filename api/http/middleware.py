"""ASGI middleware: request ids, and the deadline of request bodies."""

from __future__ import annotations

import asyncio
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metaledger.api.http.errors import ApiError

HEADER = b"x-correlation-id"
MAX_LENGTH = 64


class CorrelationIdMiddleware:
    """Request ids: `X-Correlation-ID` when the caller sends one (first 64 characters), else new."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(HEADER, b"").decode("latin-1").strip()[:MAX_LENGTH]
        request_id = sent or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyDeadlineMiddleware:
    """A request's body must arrive within `seconds` of its head: one sent slowly holds a
    connection and a task, so it gets 408 and the connection is closed."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_complete = False

        async def receive_in_time() -> Message:
            nonlocal body_complete
            if body_complete:  # waiting for the client to disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise ApiError(
                    408,
                    f"The request body was not received within {self.seconds:g} seconds.",
                    "request_timeout",
                    {"Connection": "close"},
                ) from None
            body_complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, receive_in_time, send)
