"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from metaledger.api.http.deps import ContainerDep
from metaledger.api.http.errors import error_response
from metaledger.api.http.responses import json_response

router = APIRouter(tags=["health"])


# `async def` and no blocking work: liveness is answered in the event loop, however busy the
# thread pool that runs blocking routes is.
@router.get("/healthz", summary="The process is alive")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="The event store answers")
def readyz(container: ContainerDep) -> Response:
    try:
        position = container.profiles.recorder.max_notification_id()
    except Exception:  # any failure to reach the store means not ready
        return error_response(503, "The event store is not reachable.", "not_ready")
    return json_response({"status": "ready", "position": position or 0})
