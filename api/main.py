"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.bootstrap import Container, build, running
from api.errors import install_error_handlers
from api.middleware import CorrelationIdMiddleware
from api.routes import health, history, oauth, search, signup, userinfo, users, wellknown
from api.settings import Settings

DESCRIPTION = """
metaledger keeps Auth0-style `user_metadata` and `app_metadata` as immutable events and speaks
the Auth0 Management API v2 users dialect, so the official Auth0 SDKs work against it.
Get a token at `POST /oauth/token` (client credentials) and send it as `Authorization: Bearer`.
"""


def create_app(container: Container | None = None) -> FastAPI:
    container = container or build(Settings.from_env())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with running(container.background):
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="metaledger",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    for module in (users, search, history, oauth, signup, userinfo, wellknown, health):
        app.include_router(module.router)
    return app
