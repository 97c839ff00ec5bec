"""The FastAPI application: routes, error handlers and middleware around a built container."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.staticfiles import StaticFiles

from metaledger.api.bootstrap import Container, running
from metaledger.api.http.access_log import AccessLogMiddleware
from metaledger.api.http.browser import routes as browser
from metaledger.api.http.browser.cors import CorsMiddleware
from metaledger.api.http.console import install_console
from metaledger.api.http.errors import install_error_handlers
from metaledger.api.http.middleware import BodyDeadlineMiddleware, CorrelationIdMiddleware
from metaledger.api.http.openapi import install_openapi
from metaledger.api.http.routes import (
    actions,
    audit,
    connections,
    health,
    history,
    jobs,
    oauth,
    rules,
    search,
    signup,
    userinfo,
    users,
    wellknown,
)
from metaledger.api.http.routes import clients as applications
from metaledger.api.http.routes import logs as log_records
from metaledger.api.observability.metrics import process_metrics

DESCRIPTION = """
metaledger keeps Auth0-style `user_metadata` and `app_metadata` as immutable events and speaks
the Auth0 Management API v2 users dialect, so the official Auth0 SDKs work against it.
Get a token at `POST /oauth/token` (client credentials) and send it as `Authorization: Bearer`.
"""


def create_app(container: Container) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with running(container.background):
            yield

    # Swagger UI (/docs) and ReDoc (/redoc) with their assets served from the package, so the
    # pages work without internet access.
    app = FastAPIOffline(
        lifespan=lifespan,
        title="metaledger",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
        static_url="/docs/assets",
    )
    app.state.container = container
    install_error_handlers(app)
    app.add_middleware(BodyDeadlineMiddleware, seconds=container.settings.body_timeout_seconds)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(CorsMiddleware, clients=container.clients)
    # Outermost: it reads the request id set inside, and times the whole request.
    app.add_middleware(AccessLogMiddleware, metrics=process_metrics())
    routers = [
        module.router
        for module in (
            # First: the router tries routes in order, and load balancers and probes ask for
            # /healthz more often than for anything else.
            health,
            users,
            search,
            history,
            oauth,
            signup,
            userinfo,
            wellknown,
            jobs,
            connections,
        )
    ]
    routers += [rules.router, actions.router, log_records.router, audit.router]
    routers.append(applications.router)
    routers.append(browser.api_router)
    for router in routers:
        app.include_router(router)
    install_openapi(app, routers)
    app.include_router(browser.router)
    # follow_symlink: an editable install links each file from a tree of its own.
    app.mount(
        f"{browser.PAGES}/static",
        StaticFiles(directory=browser.HERE / "static", follow_symlink=True),
        name="login-static",
    )
    if container.settings.console:
        install_console(app, container)
    return app
