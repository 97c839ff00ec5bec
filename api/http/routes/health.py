"""Liveness and readiness."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter
from starlette.responses import Response

from metaledger.api.http.deps import ContainerDep
from metaledger.api.http.responses import json_response
from metaledger.api.observability.leases import cluster_state
from metaledger.api.observability.readiness import readiness

router = APIRouter(tags=["health"])


# `async def` and no blocking work: liveness is answered in the event loop, however busy the
# thread pool that runs blocking routes is.
@router.get("/healthz", summary="The process is alive")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="The event store answers, and search and the relay keep up with it",
    description="503 names the parts that are not ready; `checks` has each part's state.",
)
def readyz(container: ContainerDep) -> Response:
    state = readiness(container.positions, container.settings.ready_max_lag_events)
    # Which node runs each background worker (on PostgreSQL, where nodes may be several).
    cluster = cluster_state(container.node, container.leases)
    extra = {"cluster": cluster} if cluster is not None else {}
    if state.ready:
        return json_response(
            {"status": "ready", "position": state.position, "checks": state.checks, **extra}
        )
    # Auth0's error body, and each part's state beside it.
    return json_response(
        {
            "statusCode": 503,
            "error": HTTPStatus(503).phrase,
            "message": f"Not ready: {'; '.join(state.problems)}.",
            "errorCode": "not_ready",
            "checks": state.checks,
            **extra,
        },
        503,
        {"Retry-After": "5"},
    )
