"""Typed FastAPI dependencies: the container, the caller's token, scopes and the actor."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from metaledger.api.auth.tokens import InvalidTokenError, Principal
from metaledger.api.bootstrap import Container
from metaledger.api.http.body import decode, read_limited, validate
from metaledger.api.http.errors import ApiError
from metaledger.domain.actor import Actor

Model = TypeVar("Model", bound=BaseModel)


# Dependencies are `async def` even though they never await: FastAPI runs a plain `def`
# dependency in the thread pool, and a thread hop per dependency costs more than its work.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        message,
        "invalid_token",
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'
        },
    )


async def get_principal(request: Request) -> Principal:
    return verified_principal(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def verified_principal(request: Request) -> Principal:
    """Who the request's bearer token speaks for; 401 without a valid one."""
    container: Container = request.app.state.container
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Missing authentication")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Bad HTTP authentication header format")
    try:
        principal = container.tokens.verify(token.strip(), container.settings.management_audience)
    except InvalidTokenError as error:
        raise _unauthorized(error.message) from None
    request.state.actor = actor_id(principal)  # for the access log
    request.state.principal = principal  # the log names the caller of a refused call
    return principal


def insufficient_scope(message: str) -> ApiError:
    return ApiError(403, message, "insufficient_scope")


@dataclass(frozen=True)
class ScopeCheck:
    """A dependency requiring a valid token with one of `scopes` (the OpenAPI document lists
    them)."""

    scopes: tuple[str, ...]
    message: str

    # The token is verified here, not in a nested dependency: FastAPI resolves each level of
    # dependencies anew on every request, and that costs more than the check itself.
    async def __call__(self, request: Request) -> Principal:
        principal = verified_principal(request)
        if not principal.has_any(*self.scopes):
            raise insufficient_scope(self.message)
        return principal


def any_scope(*scopes: str, separator: str = "; ") -> ScopeCheck:
    """Requires one of `scopes`. Auth0 words the message with "," on some endpoints."""
    expected = ", ".join(scopes) if separator == "; " else ",".join(scopes)
    return ScopeCheck(scopes, f"Insufficient scope{separator.strip()} expected any of: {expected}.")


def request_id(request: Request) -> str:
    state_id: str | None = getattr(request.state, "request_id", None)
    return state_id or uuid.uuid4().hex


def actor_for(principal: Principal, request: Request) -> Actor:
    return Actor(
        kind="client" if principal.is_client else "user",
        id=actor_id(principal),
        grant=principal.grant,
        request_id=request_id(request),
        ip=request.client.host if request.client else None,
    )


def actor_id(principal: Principal) -> str:
    """Who acts: the client of a machine-to-machine token, else the user."""
    return principal.client_id if principal.is_client and principal.client_id else principal.sub


def body_of(model: type[Model]) -> Callable[[Request, Container], Awaitable[Model]]:
    async def parse(request: Request, container: ContainerDep) -> Model:
        raw = await read_limited(request, container.settings.max_body_bytes)
        return validate(model, decode(raw, request.headers.get("content-type", "")))

    return parse


def raw_body_of(model: type[BaseModel]) -> dict[str, object]:
    """OpenAPI description of a body read by `body_of` (JSON or form-encoded)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    }
