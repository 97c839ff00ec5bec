"""Management API v2: database connections. Those METALEDGER_CONNECTIONS configures are read
only; connections created here (`create:connections`, `update:connections`,
`delete:connections`) may be custom databases, with scripts and a configuration of secrets
that is never answered in clear."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.connection_store import (
    CONFIGURATION,
    CUSTOMIZED,
    IMPORT_MODE,
    SCRIPTS,
    ConfiguredConnection,
    ConnectionExists,
)
from metaledger.api.directory import STRATEGY
from metaledger.api.http.deps import ContainerDep, any_scope, body_of, raw_body_of
from metaledger.api.http.errors import ApiError
from metaledger.api.http.responses import json_response
from metaledger.api.http.tenant_documents import StrictBody

router = APIRouter(prefix="/api/v2", tags=["connections"])
ReadConnections = Annotated[Principal, Depends(any_scope("read:connections"))]

# Auth0's rule for a connection name: letters, digits and dashes, not at either end.
CONNECTION_NAME_PATTERN = r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$"
# A script as large as a rule's may be.
MAX_SCRIPT_BYTES = 100 * 1024
MAX_CONFIGURATION_KEYS = 50
MAX_ENABLED_CLIENTS = 1000
NOT_FOUND = ApiError(404, "The connection does not exist", "inexistent_connection")
NAME_TAKEN = "A connection with the same name already exists"

Script = Annotated[StrictStr, Field(max_length=MAX_SCRIPT_BYTES)]
ConfigurationValue = Annotated[StrictStr, Field(max_length=MAX_SCRIPT_BYTES)]


class CustomScripts(StrictBody):
    login: Script | None = None
    get_user: Script | None = None
    create: Script | None = None
    verify: Script | None = None
    change_password: Script | None = None
    delete: Script | None = None


class ConnectionOptions(StrictBody):
    """The options metaledger acts on, checked; Auth0's other options are kept as sent."""

    model_config = ConfigDict(extra="allow", strict=True)

    enabledDatabaseCustomization: StrictBool = False  # noqa: N815 - Auth0's field name
    import_mode: StrictBool = False
    customScripts: CustomScripts | None = None  # noqa: N815 - Auth0's field name
    configuration: (
        Annotated[dict[str, ConfigurationValue | None], Field(max_length=MAX_CONFIGURATION_KEYS)]
        | None
    ) = None


ClientIds = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
    Field(max_length=MAX_ENABLED_CLIENTS),
]
DisplayName = Annotated[StrictStr, Field(max_length=128)]


class CreateConnectionRequest(StrictBody):
    name: Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=CONNECTION_NAME_PATTERN)]
    strategy: Literal["auth0"]
    display_name: DisplayName | None = None
    options: ConnectionOptions | None = None
    enabled_clients: ClientIds | None = None
    is_domain_connection: StrictBool = False
    metadata: dict[str, StrictStr] | None = None


class UpdateConnectionRequest(StrictBody):
    display_name: DisplayName | None = None
    options: ConnectionOptions | None = None
    enabled_clients: ClientIds | None = None
    is_domain_connection: StrictBool | None = None
    metadata: dict[str, StrictStr] | None = None


def _options(options: ConnectionOptions | None) -> dict[str, Any]:
    """The options to store; import mode needs the scripts that serve it."""
    if options is None:
        return {CUSTOMIZED: False, IMPORT_MODE: False}
    stored = options.model_dump(exclude_none=True)
    scripts = stored.get(SCRIPTS, {})
    if stored[IMPORT_MODE] and not (stored[CUSTOMIZED] and scripts.get("login")):
        raise ApiError(
            400,
            "import_mode needs enabledDatabaseCustomization and a login script",
            "invalid_body",
        )
    if stored[CUSTOMIZED] and not scripts.get("login"):
        raise ApiError(400, "A custom database needs a login script", "invalid_body")
    stored.setdefault(CONFIGURATION, {})
    return stored


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
    bodies = container.connections.all()
    if name is not None:
        bodies = [body for body in bodies if body["name"] == name]
    if strategy is not None and STRATEGY not in strategy:
        bodies = []
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
    body = container.connections.by_id(id)
    if body is None:
        raise NOT_FOUND
    return json_response(body)


@router.post(
    "/connections",
    status_code=201,
    summary="Create a database connection (a custom database with scripts)",
    openapi_extra=raw_body_of(CreateConnectionRequest),
)
def create_connection(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("create:connections"))],
    body: Annotated[CreateConnectionRequest, Depends(body_of(CreateConnectionRequest))],
) -> Response:
    document: dict[str, Any] = {
        "name": body.name,
        "strategy": STRATEGY,
        "display_name": body.display_name or body.name,
        "is_domain_connection": body.is_domain_connection,
        "realms": [body.name],
        "enabled_clients": body.enabled_clients or [],
        "metadata": body.metadata or {},
        "options": _options(body.options),
        "created_at": _now(),
    }
    try:
        created = container.connections.create(document)
    except ConnectionExists:
        raise ApiError(409, NAME_TAKEN, "connection_conflict") from None
    return json_response(container.connections.by_id(created["id"]), status_code=201)


@router.patch(
    "/connections/{id}",
    summary="Update a connection (`options` is replaced as a whole, as on Auth0)",
    openapi_extra=raw_body_of(UpdateConnectionRequest),
)
def update_connection(
    id: str,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:connections"))],
    body: Annotated[UpdateConnectionRequest, Depends(body_of(UpdateConnectionRequest))],
) -> Response:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"options"})
    if "options" in body.model_fields_set:
        changes["options"] = _options(body.options)
    try:
        updated = container.connections.update(id, changes)
    except ConfiguredConnection:
        raise _configured() from None
    if updated is None:
        raise NOT_FOUND
    return json_response(container.connections.by_id(id))


@router.delete("/connections/{id}", status_code=204, summary="Delete a connection")
def delete_connection(
    id: str,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("delete:connections"))],
) -> Response:
    try:
        container.connections.delete(id)
    except ConfiguredConnection:
        raise _configured() from None
    return Response(status_code=204)


def _configured() -> ApiError:
    return ApiError(
        400,
        "This connection comes from METALEDGER_CONNECTIONS: change it there",
        "operation_not_supported",
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
