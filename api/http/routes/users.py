"""Management API v2: users (create, read, update, delete) and users-by-email."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from metaledger.api.auth.tokens import Principal
from metaledger.api.http.deps import (
    ContainerDep,
    PrincipalDep,
    actor_for,
    any_scope,
    body_of,
    insufficient_scope,
    raw_body_of,
)
from metaledger.api.http.errors import ApiError, invalid_body
from metaledger.api.http.query_params import MAX_INT64, invalid_query, parse_instant
from metaledger.api.http.responses import VERSION_HEADER, json_response, position_headers
from metaledger.api.http.schemas import CreateUserRequest, UpdateUserRequest
from metaledger.api.http.store_reads import read_store
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import (
    CONTROL_CHARACTER_MESSAGE,
    NewUser,
    UserUpdate,
    has_control_character,
)
from metaledger.domain.time_travel import user_as_of, user_at_version

router = APIRouter(prefix="/api/v2", tags=["users"])

USER_ID_PATTERN = re.compile(r"^.+\|.+$")
SUBJECT_MISMATCH = "User to be acted on does not match subject in bearer token."
# Root attributes Auth0 refuses to change together in one PATCH.
EXCLUSIVE_UPDATES = (
    ("password", "email"),
    ("password", "email_verified"),
    ("username", "email"),
    ("username", "email_verified"),
    ("username", "password"),
)
# Fields of a PATCH body that steer the request rather than set an attribute.
REQUEST_OPTIONS = ("verify_email", "verify_phone_number", "connection", "client_id")

Fields = Annotated[
    str | None, Query(description="Comma-separated list of fields to include or exclude.")
]
IncludeFields = Annotated[
    bool, Query(description="true: include only `fields`; false: exclude them.")
]
AsOf = Annotated[
    str | None,
    Query(description="metaledger extension: the user as of this ISO-8601 date-time."),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=MAX_INT64, description="metaledger extension: the user at this version."),
]


def checked_user_id(user_id: str, purpose: str) -> str:
    if not USER_ID_PATTERN.match(user_id):
        raise ApiError(
            400,
            f"Path validation error: 'String does not match pattern ^.+\\|.+$: {user_id}' "
            f"on property id (The user_id of the user to {purpose}).",
            "invalid_uri",
        )
    return user_id


def select_fields(user: dict[str, Any], fields: str | None, include: bool) -> dict[str, Any]:
    if not fields:
        return user
    names = {name.strip() for name in fields.split(",") if name.strip()}
    return {key: value for key, value in user.items() if (key in names) == include}


def acts_on_self(principal: Principal, user_id: str) -> bool:
    """An end user's token names its user in `sub`; a machine token never stands for a user,
    whatever its `sub` looks like."""
    return not principal.is_client and principal.sub == user_id


def own_user_only(principal: Principal, user_id: str, admin_scopes: tuple[str, ...]) -> None:
    """An end-user token granted only `…:current_user…` scopes acts on its own user."""
    if not principal.has_any(*admin_scopes) and not acts_on_self(principal, user_id):
        raise insufficient_scope(SUBJECT_MISMATCH)


@router.post(
    "/users",
    status_code=201,
    summary="Create a user",
    openapi_extra=raw_body_of(CreateUserRequest),
)
def create_user(
    request: Request,
    container: ContainerDep,
    principal: Annotated[Principal, Depends(any_scope("create:users", separator=", "))],
    body: Annotated[CreateUserRequest, Depends(body_of(CreateUserRequest))],
) -> Response:
    sent = body.model_dump(exclude_unset=True, exclude_none=True)
    password = sent.pop("password")
    sent.pop("verify_email", None)
    profile = {
        key: value
        for key, value in sent.items()
        if key not in ("connection", "user_id", USER_METADATA, APP_METADATA)
    }
    written = container.profiles.create_user(
        NewUser(
            connection=body.connection,
            profile=profile,
            user_metadata=sent.get(USER_METADATA, {}),
            app_metadata=sent.get(APP_METADATA, {}),
            user_id=body.user_id,
            password=password,
        ),
        actor_for(principal, request),
    )
    return json_response(written.user.as_auth0(), 201, position_headers(written.position))


@router.get(
    "/users/{id}",
    summary="Get a user",
    description="With `as_of` or `version` (metaledger extensions), the user exactly as they "
    "were then; 404 before the user existed, once deleted, and for an erased user.",
)
async def get_user(
    id: str,
    container: ContainerDep,
    principal: Annotated[
        Principal, Depends(any_scope("read:users", "read:current_user", "read:user_idp_tokens"))
    ],
    fields: Fields = None,
    include_fields: IncludeFields = True,
    as_of: AsOf = None,
    version: Version = None,
) -> Response:
    user_id = checked_user_id(id, "retrieve")
    own_user_only(principal, user_id, ("read:users", "read:user_idp_tokens"))
    if as_of is not None and version is not None:
        raise invalid_query("Use either as_of or version, not both.")
    headers = {}
    if as_of is not None:
        instant = parse_instant(as_of, "as_of")
        user = await run_in_threadpool(user_as_of, container.profiles, user_id, instant)
    elif version is not None:
        user = await run_in_threadpool(user_at_version, container.profiles, user_id, version)
    else:
        # The hot read: a cached user and the events stored since.
        user = await read_store(container.settings, partial(container.profiles.get_user, user_id))
    if as_of is not None or version is not None:
        headers[VERSION_HEADER] = str(user.version)
    return json_response(select_fields(user.as_auth0(), fields, include_fields), headers=headers)


def authorize_update(principal: Principal, user_id: str, sent: set[str]) -> None:
    """`update:users` may change anything; `update:users_app_metadata` only app_metadata;
    an end user's `update:current_user_metadata` only their own user_metadata."""
    if principal.has_any("update:users"):
        return
    allowed: set[str] = set()
    if principal.has_any("update:users_app_metadata"):
        allowed.add(APP_METADATA)
    if principal.has_any("update:current_user_metadata", "create:current_user_metadata"):
        if acts_on_self(principal, user_id):
            allowed.add(USER_METADATA)
        elif not allowed:
            raise insufficient_scope(SUBJECT_MISMATCH)
    if not allowed:
        raise insufficient_scope(
            "Insufficient scope; expected any of: update:users,update:users_app_metadata,"
            "update:current_user_metadata."
        )
    refused = sorted(sent - allowed)
    if refused:
        raise insufficient_scope(
            "Some fields cannot be updated with the permissions granted by the bearer token "
            f"scopes: {', '.join(refused)}."
        )


@router.patch("/users/{id}", summary="Update a user", openapi_extra=raw_body_of(UpdateUserRequest))
def update_user(
    id: str,
    request: Request,
    container: ContainerDep,
    principal: PrincipalDep,
    body: Annotated[UpdateUserRequest, Depends(body_of(UpdateUserRequest))],
) -> Response:
    user_id = checked_user_id(id, "update")
    sent = body.model_dump(exclude_unset=True)
    authorize_update(principal, user_id, set(sent))
    for first, second in EXCLUSIVE_UPDATES:
        if first in sent and second in sent:
            raise invalid_body(f"Cannot update {first} and {second} simultaneously.")
    connection = sent.get("connection")
    for option in REQUEST_OPTIONS:
        sent.pop(option, None)
    buckets = {name: sent.pop(name) for name in (USER_METADATA, APP_METADATA) if name in sent}
    update = UserUpdate(
        profile=sent,
        buckets=buckets,
        password=sent.pop("password", None),
        connection=connection,
    )
    written = container.profiles.update_user(user_id, update, actor_for(principal, request))
    return json_response(written.user.as_auth0(), headers=position_headers(written.position))


@router.delete(
    "/users/{id}",
    status_code=204,
    summary="Delete a user",
    description="Records UserDeleted. With erasure (`erase=true`, or the server's "
    "METALEDGER_ERASE_ON_DELETE default) the user's key is destroyed with it: their personal "
    "data becomes unreadable everywhere while their history keeps its versions, times and "
    "actors. A user deleted earlier can be erased later the same way.",
)
def delete_user(
    id: str,
    request: Request,
    container: ContainerDep,
    principal: Annotated[Principal, Depends(any_scope("delete:users", "delete:current_user"))],
    erase: Annotated[
        bool | None,
        Query(description="metaledger extension: erase the user's personal data."),
    ] = None,
) -> Response:
    user_id = checked_user_id(id, "delete")
    own_user_only(principal, user_id, ("delete:users",))
    position = container.profiles.delete_user(
        user_id,
        actor_for(principal, request),
        erase=container.settings.erase_on_delete if erase is None else erase,
    )
    return Response(status_code=204, headers=position_headers(position))


@router.get("/users-by-email", summary="Search users by email (exact, case-sensitive)")
async def users_by_email(
    container: ContainerDep,
    _: Annotated[Principal, Depends(any_scope("read:users"))],
    email: Annotated[str, Query(min_length=1)],
    fields: Fields = None,
    include_fields: IncludeFields = True,
) -> Response:
    if has_control_character(email):
        raise invalid_query(
            f"Query validation error: '{CONTROL_CHARACTER_MESSAGE}' on property email."
        )
    users = await read_store(container.settings, partial(container.profiles.users_by_email, email))
    return json_response([select_fields(u.as_auth0(), fields, include_fields) for u in users])
