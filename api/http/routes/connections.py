"""Management API v2: the configured database connections, read only (`read:connections`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.directory import STRATEGY, Directory
from metaledger.api.http.deps import ContainerDep, any_scope
from metaledger.api.http.errors import ApiError
from metaledger.api.http.responses import json_response

router = APIRouter(prefix="/api/v2", tags=["connections"])
ReadConnections = Annotated[Principal, Depends(any_scope("read:connections"))]


def directory_of(container: ContainerDep) -> Directory:
    assert container.jobs is not None  # build_http always builds it
    return container.jobs.directory


@router.get(
    "/connections",
    summary="List the database connections",
    description="A list; with `include_totals`, a page with totals; with `take` or `from` "
    "(checkpoint paging, as the SDKs ask), `{connections, next}`.",
)
def list_connections(
    container: ContainerDep,
    _: ReadConnections,
    name: Annotated[str | None, Query(description="Only the connection of this name.")] = None,
    strategy: Annotated[
        list[str] | None, Query(description="Only connections of these strategies.")
    ] = None,
    include_totals: bool = False,
    from_: Annotated[
        str | None, Query(alias="from", description="The id to start the page at.")
    ] = None,
    take: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> Response:
    connections = directory_of(container).all()
    if name is not None:
        connections = [c for c in connections if c.name == name]
    if strategy is not None and STRATEGY not in strategy:
        connections = []
    bodies = [connection.as_auth0() for connection in connections]
    if from_ is not None or take is not None:
        ids = [body["id"] for body in bodies]
        start = ids.index(from_) if from_ in ids else (len(ids) if from_ is not None else 0)
        end = start + (take or 50)
        page: dict[str, object] = {"connections": bodies[start:end]}
        if end < len(bodies):
            page["next"] = ids[end]
        return json_response(page)
    if include_totals:
        return json_response({"connections": bodies, "start": 0, "limit": 50, "total": len(bodies)})
    return json_response(bodies)


@router.get("/connections/{id}", summary="Get a connection")
def get_connection(id: str, container: ContainerDep, _: ReadConnections) -> Response:
    connection = directory_of(container).by_id(id)
    if connection is None:
        raise ApiError(404, "The connection does not exist", "inexistent_connection")
    return json_response(connection.as_auth0())
