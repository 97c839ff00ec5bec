"""Authentication API: `POST /dbconnections/signup`, a user signing themselves up.

Errors carry Auth0's sign-up fields (`name`, `code`, `description`) beside the usual
`statusCode`, `error`, `message` and `errorCode`, so clients of either dialect read them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from metaledger.api.bootstrap import Container
from metaledger.api.connection_store import IMPORT_MODE
from metaledger.api.custom_databases import ScriptFailed, ScriptRefused, WrongPassword
from metaledger.api.http.audit_log import Failure, record
from metaledger.api.http.body import decode, read_limited, validate
from metaledger.api.http.deps import ContainerDep, raw_body_of, request_id
from metaledger.api.http.errors import ApiError
from metaledger.api.http.responses import json_response
from metaledger.api.http.routes.oauth import connection_enabled
from metaledger.api.http.schemas import (
    DisplayName,
    Email,
    GivenOrFamilyName,
    Password,
    Phone,
    Picture,
    Username,
)
from metaledger.api.sandbox.pipeline import CodeRefused, Login, SandboxBusy
from metaledger.domain import metadata
from metaledger.domain.actor import Actor
from metaledger.domain.errors import DomainError, UserAlreadyExists
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import NewUser
from metaledger.projections.audit.records import FAILED_SIGNUP

router = APIRouter(tags=["authentication"])

SIGNUP_BODY_LIMIT = 64 * 1024
# Auth0's limits on metadata given at sign-up, where the user alone decides what is sent.
MAX_SIGNUP_METADATA_KEYS = 10
MAX_SIGNUP_METADATA_KEY_LENGTH = 100
MAX_SIGNUP_METADATA_VALUE_LENGTH = 500
PROFILE_FIELDS = (
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "phone_number",
)


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: Annotated[str, Field(min_length=1)]
    email: Email
    password: Password
    connection: Annotated[str, Field(min_length=1)]
    username: Username | None = None
    given_name: GivenOrFamilyName | None = None
    family_name: GivenOrFamilyName | None = None
    name: DisplayName | None = None
    nickname: DisplayName | None = None
    picture: Picture | None = None
    phone_number: Phone | None = None
    user_metadata: Any = None


class SignupRefused(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        name: str = "BadRequestError",
        description: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {
            "name": name,
            "code": code,
            "description": message if description is None else description,
            "statusCode": status,
            "error": HTTPStatus(status).phrase,
            "message": message,
            "errorCode": code,
            **(extra or {}),
        }

    def response(self) -> Response:
        return json_response(self.body, self.body["statusCode"])


def invalid_signup(message: str) -> SignupRefused:
    return SignupRefused(400, "invalid_signup", message)


def check_signup_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_signup("invalid user_metadata type (expected object)")
    if len(value) > MAX_SIGNUP_METADATA_KEYS:
        raise invalid_signup(
            f"user_metadata can have at most {MAX_SIGNUP_METADATA_KEYS} properties"
        )
    for key, item in value.items():
        if len(key) > MAX_SIGNUP_METADATA_KEY_LENGTH:
            raise invalid_signup(
                f"user_metadata property names can have at most "
                f"{MAX_SIGNUP_METADATA_KEY_LENGTH} characters"
            )
        if not isinstance(item, str):
            raise invalid_signup(f"invalid user_metadata.{key} type (only strings are allowed)")
        if len(item) > MAX_SIGNUP_METADATA_VALUE_LENGTH:
            raise invalid_signup(
                f"user_metadata.{key} can have at most {MAX_SIGNUP_METADATA_VALUE_LENGTH} "
                "characters"
            )
    return value


def sign_up(container: Container, request: Request, body: SignupRequest) -> Response:
    client = container.clients.get(body.client_id)
    if client is None:
        raise SignupRefused(401, "unauthorized", "Unknown client.", name="UnauthorizedError")
    if body.connection not in container.connections:
        raise invalid_signup("Connection does not exist.")
    if not connection_enabled(container, client, body.connection):
        raise SignupRefused(
            403,
            "unauthorized",
            "The connection is not enabled for this client.",
            name="ForbiddenError",
        )
    user_metadata = check_signup_metadata(body.user_metadata)
    policy = container.password_policy
    if not policy.accepts(body.password):
        raise SignupRefused(
            400,
            "invalid_password",
            "Password is too weak",
            name="PasswordStrengthError",
            description={"rules": policy.rules(body.password), "verified": False},
            extra={"policy": policy.describe()},
        )
    sent = body.model_dump(include=set(PROFILE_FIELDS), exclude_none=True)
    profile = {"email": body.email, **sent}
    actor = Actor(
        kind="self-signup",
        id=client.client_id,
        request_id=request_id(request),
        ip=request.client.host if request.client else None,
    )
    login = Login(
        client_id=client.client_id,
        client_name=client.name,
        connection=body.connection,
        ip=actor.ip or "",
        user_agent=request.headers.get("user-agent", ""),
        hostname=request.url.hostname or "",
        request_id=actor.request_id or "",
        protocol="oidc-basic-profile",
    )
    added = run_registration_code(
        container, {**profile, USER_METADATA: dict(user_metadata), APP_METADATA: {}}, login
    )
    legacy_signup(container, body, {**profile, USER_METADATA: dict(user_metadata)})
    try:
        written = container.profiles.create_user(
            NewUser(
                connection=body.connection,
                profile=profile,
                # An empty patch would clear a bucket: only the buckets the code set merge.
                user_metadata=metadata.merge(user_metadata, added[USER_METADATA])
                if USER_METADATA in added
                else user_metadata,
                app_metadata=metadata.merge({}, added[APP_METADATA])
                if APP_METADATA in added
                else {},
                password=body.password,
            ),
            actor,
        )
    except UserAlreadyExists:
        # Auth0's generic wording: the reply does not confirm that an email is registered.
        raise invalid_signup("Invalid sign up") from None
    user = written.user
    reply: dict[str, Any] = {
        "_id": user.user_id.partition("|")[2],
        "email": user.email,
        "email_verified": user.profile.get("email_verified", False),
        **sent,
    }
    if user.user_metadata:
        reply[USER_METADATA] = user.user_metadata
    return json_response(reply)


def legacy_signup(container: Container, body: SignupRequest, user: dict[str, Any]) -> None:
    """On a custom database: an email its legacy store has (`get_user`) is refused as an
    existing user; without import mode the `create` script stores the new user there."""
    connection = container.databases.custom(body.connection)
    if connection is None:
        return
    try:
        if container.databases.get_user(connection, body.email) is not None:
            raise invalid_signup("Invalid sign up")
        if connection["options"].get(IMPORT_MODE) is not True:
            container.databases.create(connection, {**user, "password": body.password})
    except ScriptRefused as refused:
        raise SignupRefused(400, refused.code, refused.message, name="ValidationError") from None
    except (ScriptFailed, WrongPassword) as failed:
        message = failed.message if isinstance(failed, ScriptFailed) else "Invalid sign up"
        raise SignupRefused(
            400, "extensibility_error", message, name="ExtensibilityError"
        ) from None
    except SandboxBusy:
        raise SignupRefused(
            503, "temporarily_unavailable", "Every sandbox worker is busy; try again."
        ) from None


def run_registration_code(
    container: Container, user: dict[str, Any], login: Login
) -> dict[str, Any]:
    """The metadata the pre-user-registration Actions set, by bucket; a deny (or a failure)
    refuses the sign-up with Auth0's `extensibility_error`, showing the deny's user message."""
    try:
        return container.pipeline.pre_user_registration(user, login)
    except CodeRefused as refused:
        raise SignupRefused(
            400, "extensibility_error", refused.message, name="ExtensibilityError"
        ) from None
    except SandboxBusy:
        raise SignupRefused(
            503, "temporarily_unavailable", "Every sandbox worker is busy; try again."
        ) from None


@router.post(
    "/dbconnections/signup",
    summary="Sign up a user of a database connection",
    openapi_extra=raw_body_of(SignupRequest),
)
async def signup(request: Request, container: ContainerDep) -> Response:
    body: SignupRequest | None = None
    try:
        raw = await read_limited(request, SIGNUP_BODY_LIMIT)
        body = validate(SignupRequest, decode(raw, request.headers.get("content-type", "")))
        # Hashing is slow on purpose: off the event loop.
        response: Response = await run_in_threadpool(sign_up, container, request, body)
    except SignupRefused as refused:
        refusal = refused
    except ApiError as error:
        code = "invalid_signup" if error.status == 400 else error.error_code or "invalid_signup"
        refusal = SignupRefused(error.status, code, error.message)
    except DomainError as error:
        refusal = invalid_signup(error.message)
    else:
        return response  # the sign-up's `ss` record comes from its event
    failure = Failure(
        FAILED_SIGNUP,
        user_name=body.email if body else None,
        connection=body.connection if body else None,
    )
    await record(request, failure, refusal.body["message"], body.client_id if body else None)
    return refusal.response()
