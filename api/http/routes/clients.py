"""Management API v2: applications (`/api/v2/clients`), as on Auth0. The admin client and the
applications METALEDGER_APPLICATIONS gives are listed but read only; those created here are
stored, and every process serving logins sees them at once. A secret is answered only to
`read:client_keys`, and on creation and rotation."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from metaledger.api.auth.clients import APP_TYPES, CLIENT_CREDENTIALS
from metaledger.api.auth.tokens import Principal
from metaledger.api.bootstrap import Container
from metaledger.api.client_store import (
    DEFAULT_GRANTS,
    PUBLIC,
    URL_LISTS,
    ConfiguredClient,
    without_secret,
)
from metaledger.api.http.deps import ContainerDep, any_scope, body_of, raw_body_of
from metaledger.api.http.errors import ApiError, invalid_body
from metaledger.api.http.query_params import names
from metaledger.api.http.responses import json_response
from metaledger.api.http.routes.users import Fields, IncludeFields, select_fields
from metaledger.api.http.tenant_documents import StrictBody

router = APIRouter(prefix="/api/v2", tags=["clients"])
ReadClients = Annotated[Principal, Depends(any_scope("read:clients", "read:client_keys"))]
UpdateClients = Annotated[Principal, Depends(any_scope("update:clients", "update:client_keys"))]

NOT_FOUND = ApiError(404, "The client does not exist", "inexistent_client")
# Auth0's limits on client_metadata: ten string properties, names and values of 255 characters.
MAX_METADATA_KEYS = 10
MAX_METADATA_CHARS = 255
MAX_URLS = 100
MAX_URL_CHARS = 2048
# Callbacks may use a native app's own scheme; origins are scheme, host and port only.
ORIGIN_LISTS = ("web_origins", "allowed_origins")

Name = Annotated[StrictStr, Field(min_length=1, max_length=256, pattern=r"^[^<>]+$")]
Description = Annotated[StrictStr, Field(max_length=140)]
Urls = Annotated[
    list[Annotated[StrictStr, Field(min_length=1, max_length=MAX_URL_CHARS)]],
    Field(max_length=MAX_URLS),
]
AppType = Literal["native", "spa", "regular_web", "non_interactive"]
GrantType = Literal[
    "client_credentials",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
    "authorization_code",
    "implicit",
    "refresh_token",
]
AuthMethod = Literal["none", "client_secret_post", "client_secret_basic"]
MetadataKey = Annotated[str, Field(min_length=1, max_length=MAX_METADATA_CHARS)]
MetadataValue = Annotated[StrictStr, Field(max_length=MAX_METADATA_CHARS)]


class CreateClientRequest(StrictBody):
    name: Name
    description: Description | None = None
    app_type: AppType | None = None
    is_first_party: StrictBool = True
    token_endpoint_auth_method: AuthMethod | None = None
    grant_types: list[GrantType] | None = None
    callbacks: Urls = Field(default_factory=list)
    allowed_logout_urls: Urls = Field(default_factory=list)
    web_origins: Urls = Field(default_factory=list)
    allowed_origins: Urls = Field(default_factory=list)
    client_metadata: Annotated[
        dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)
    ] = Field(default_factory=dict)


class UpdateClientRequest(StrictBody):
    """Every field optional; `client_metadata` merges by property and a null deletes one."""

    name: Name | None = None
    description: Description | None = None
    app_type: AppType | None = None
    is_first_party: StrictBool | None = None
    token_endpoint_auth_method: AuthMethod | None = None
    grant_types: list[GrantType] | None = None
    callbacks: Urls | None = None
    allowed_logout_urls: Urls | None = None
    web_origins: Urls | None = None
    allowed_origins: Urls | None = None
    client_metadata: dict[MetadataKey, MetadataValue | None] | None = None


class Application(BaseModel):
    """An Auth0 client object as answered (`fields` may leave attributes out; `client_secret`
    only to `read:client_keys`)."""

    model_config = ConfigDict(extra="allow")

    client_id: str | None = None
    client_secret: str | None = None
    name: str | None = None
    description: str | None = None
    app_type: str | None = None
    is_first_party: bool | None = None
    token_endpoint_auth_method: str | None = None
    grant_types: list[str] | None = None
    callbacks: list[str] | None = None
    allowed_logout_urls: list[str] | None = None
    web_origins: list[str] | None = None
    allowed_origins: list[str] | None = None
    client_metadata: dict[str, str] | None = None


class ApplicationPage(BaseModel):
    """A page of applications with `include_totals=true`."""

    clients: list[Application]
    start: int
    limit: int
    total: int


@router.get(
    "/clients",
    summary="Get applications",
    description="A list; with `include_totals`, a page `{clients, start, limit, total}`.",
)
def list_clients(
    container: ContainerDep,
    principal: ReadClients,
    fields: Fields = None,
    include_fields: IncludeFields = True,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    include_totals: Annotated[bool, Query()] = False,
    app_type: Annotated[
        str | None, Query(description="Comma-separated application types to list.")
    ] = None,
    is_first_party: Annotated[bool | None, Query()] = None,
    is_global: Annotated[bool | None, Query()] = None,
) -> Response:
    types = names(app_type, APP_TYPES, "app_type")
    bodies = [
        body
        for body in container.clients.all()
        if (not types or body.get("app_type") in types)
        and (is_first_party is None or body["is_first_party"] == is_first_party)
        and (is_global is None or body["global"] == is_global)
    ]
    shown = [
        _shown(body, principal, fields, include_fields)
        for body in bodies[page * per_page : (page + 1) * per_page]
    ]
    if include_totals:
        return json_response(
            {"clients": shown, "start": page * per_page, "limit": per_page, "total": len(bodies)}
        )
    return json_response(shown)


@router.get("/clients/{id}", summary="Get an application")
def get_client(
    id: str,
    container: ContainerDep,
    principal: ReadClients,
    fields: Fields = None,
    include_fields: IncludeFields = True,
) -> Response:
    body = container.clients.by_id(id)
    if body is None:
        raise NOT_FOUND
    return json_response(_shown(body, principal, fields, include_fields))


@router.post(
    "/clients",
    status_code=201,
    summary="Create an application (its client_id and, unless public, its secret generated)",
    openapi_extra=raw_body_of(CreateClientRequest),
)
def create_client(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("create:clients"))],
    body: Annotated[CreateClientRequest, Depends(body_of(CreateClientRequest))],
) -> Response:
    method = body.token_endpoint_auth_method or (
        PUBLIC if body.app_type in ("spa", "native") else "client_secret_post"
    )
    grants: list[str]
    if body.grant_types is not None:
        grants = list(body.grant_types)
    else:
        grants = [
            grant
            for grant in DEFAULT_GRANTS[body.app_type]
            if not (method == PUBLIC and grant == CLIENT_CREDENTIALS)
        ]
    document: dict[str, Any] = {
        "name": body.name,
        "description": body.description or "",
        "is_first_party": body.is_first_party,
        "global": False,
        "oidc_conformant": True,
        "token_endpoint_auth_method": method,
        "grant_types": list(dict.fromkeys(grants)),
        "callbacks": body.callbacks,
        "allowed_logout_urls": body.allowed_logout_urls,
        "web_origins": body.web_origins,
        "allowed_origins": body.allowed_origins,
        "client_metadata": body.client_metadata,
        "jwt_configuration": {"alg": "RS256"},
    }
    if body.app_type is not None:
        document["app_type"] = body.app_type
    _check(document)
    return json_response(container.clients.create(document), status_code=201)


@router.patch(
    "/clients/{id}",
    summary="Update an application",
    openapi_extra=raw_body_of(UpdateClientRequest),
)
def update_client(
    id: str,
    container: ContainerDep,
    principal: UpdateClients,
    body: Annotated[UpdateClientRequest, Depends(body_of(UpdateClientRequest))],
) -> Response:
    document = _changeable(container, id)
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in ("description", "app_type"):
            raise invalid_body(
                f"Payload validation error: 'Expected a value but found null' on property {field}."
            )
    metadata = changes.pop("client_metadata", None)
    if "grant_types" in changes:
        changes["grant_types"] = list(dict.fromkeys(changes["grant_types"]))
    document = {**document, **changes}
    if changes.get("description", "") is None:
        document["description"] = ""
    if "app_type" in changes and changes["app_type"] is None:
        del document["app_type"]
    if metadata is not None:
        merged = {**document["client_metadata"], **metadata}
        document["client_metadata"] = {k: v for k, v in merged.items() if v is not None}
    _check(document)
    container.clients.update(id, document)
    return json_response(_shown(container.clients.by_id(id) or document, principal, None, True))


@router.delete("/clients/{id}", status_code=204, summary="Delete an application")
def delete_client(
    id: str,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("delete:clients"))],
) -> Response:
    try:
        container.clients.delete(id)
    except ConfiguredClient:
        raise _configured() from None
    return Response(status_code=204)


@router.post(
    "/clients/{id}/rotate-secret",
    summary="Rotate an application's secret (the previous one stops working at once)",
)
def rotate_secret(
    id: str,
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("update:client_keys"))],
) -> Response:
    document = _changeable(container, id)
    if document["token_endpoint_auth_method"] == PUBLIC:
        raise invalid_body("A public application (token_endpoint_auth_method none) has no secret")
    rotated = container.clients.rotate_secret(id)
    return json_response(rotated or document)


def _changeable(container: Container, client_id: str) -> dict[str, Any]:
    """The stored application; 400 for a configured one, 404 for none."""
    if container.clients.is_configured(client_id):
        raise _configured()
    document = container.clients.stored(client_id)
    if document is None:
        raise NOT_FOUND
    return document


def _shown(
    body: dict[str, Any], principal: Principal, fields: str | None, include_fields: bool
) -> dict[str, Any]:
    if not principal.has_any("read:client_keys"):
        body = without_secret(body)
    return select_fields(body, fields, include_fields)


def _check(document: dict[str, Any]) -> None:
    """What the body's types cannot say: URL shapes, a public application's grants, the
    merged metadata's size."""
    for field in URL_LISTS:
        for index, value in enumerate(document[field]):
            if not _well_formed(value, origin=field in ORIGIN_LISTS):
                kind = "origin" if field in ORIGIN_LISTS else "url"
                raise invalid_body(
                    f"Payload validation error: 'Object didn't pass validation for format "
                    f"{kind}: {value}' on property {field}[{index}]."
                )
    if document["token_endpoint_auth_method"] == PUBLIC and (
        CLIENT_CREDENTIALS in document["grant_types"]
    ):
        raise invalid_body(
            "A public application (token_endpoint_auth_method none) cannot use the "
            "client_credentials grant"
        )
    if len(document["client_metadata"]) > MAX_METADATA_KEYS:
        raise invalid_body(
            f"Payload validation error: 'Too many properties defined, maximum "
            f"{MAX_METADATA_KEYS}' on property client_metadata."
        )


def _well_formed(value: str, *, origin: bool) -> bool:
    if any(character.isspace() for character in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return False
    if origin:
        return (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.path in ("", "/")
            and not (parts.query or parts.fragment)
        )
    # A web address has a host; a native app's callback may be `com.example.app:/callback`.
    web = parts.scheme in ("http", "https")
    has_target = bool(parts.netloc) if web else bool(parts.netloc or parts.path)
    return bool(parts.scheme) and has_target and not parts.fragment


def _configured() -> ApiError:
    return ApiError(
        400,
        "This application comes from the configuration (METALEDGER_APPLICATIONS or the admin "
        "client): change it there",
        "operation_not_supported",
    )
