"""The OpenAPI document as clients need it: the bearer scheme with each operation's scopes, the
errors the API really answers (Auth0's body, 400 rather than FastAPI's 422), and the shape of
every success.

The routes render their bodies themselves (orjson); the shapes are declared here, by operation,
from `response_models`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from metaledger.api.http import job_models
from metaledger.api.http import response_models as shapes
from metaledger.api.http.deps import ScopeCheck, get_principal
from metaledger.api.http.routes import clients as applications
from metaledger.api.http.routes import rules

BEARER = "bearer"
ERROR_REF = "#/components/schemas/Auth0Error"
OAUTH_ERROR_REF = "#/components/schemas/OAuthError"

# A success whose body is a gzipped file rather than JSON.
GZIP_FILE = "application/gzip"
# Each operation's success: its status and what its body is (a model, or a union of shapes the
# parameters choose between).
SUCCESSES: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", "/api/v2/users"): ("201", shapes.User),
    ("GET", "/api/v2/users"): ("200", list[shapes.User] | shapes.UserPage | shapes.UserCheckpoint),
    ("GET", "/api/v2/users/{id}"): ("200", shapes.User),
    ("PATCH", "/api/v2/users/{id}"): ("200", shapes.User),
    ("DELETE", "/api/v2/users/{id}"): ("204", None),
    ("GET", "/api/v2/users-by-email"): ("200", list[shapes.User]),
    ("GET", "/api/v2/users/{id}/history"): (
        "200",
        list[shapes.HistoryEntry] | shapes.HistoryPage | shapes.HistoryCheckpoint,
    ),
    ("GET", "/api/v2/events"): ("200", shapes.FeedPage),
    ("GET", "/api/v2/logs"): ("200", list[shapes.LogRecord] | shapes.LogPage),
    ("GET", "/api/v2/logs/{id}"): ("200", shapes.LogRecord),
    ("GET", "/api/v2/users/{id}/logs"): ("200", list[shapes.LogRecord] | shapes.LogPage),
    ("GET", "/api/v2/audit/changes"): ("200", shapes.ChangePage),
    ("POST", "/oauth/token"): ("200", shapes.TokenResponse),
    ("POST", "/dbconnections/signup"): ("200", shapes.SignedUp),
    ("POST", "/co/authenticate"): ("200", shapes.LoginTicket),
    ("GET", "/userinfo"): ("200", shapes.Claims),
    ("GET", "/.well-known/jwks.json"): ("200", shapes.KeySet),
    ("GET", "/.well-known/openid-configuration"): ("200", shapes.Discovery),
    ("GET", "/api/v2/rules"): ("200", list[rules.SelectedRule] | rules.RulePage),
    ("POST", "/api/v2/rules"): ("201", rules.Rule),
    ("GET", "/api/v2/rules/{id}"): ("200", rules.SelectedRule),
    ("PATCH", "/api/v2/rules/{id}"): ("200", rules.Rule),
    ("DELETE", "/api/v2/rules/{id}"): ("204", None),
    ("GET", "/api/v2/rules-configs"): ("200", list[rules.RulesConfig]),
    ("PUT", "/api/v2/rules-configs/{key}"): ("200", rules.RulesConfig),
    ("DELETE", "/api/v2/rules-configs/{key}"): ("204", None),
    ("POST", "/api/v2/actions/actions"): ("201", dict[str, Any]),
    ("GET", "/api/v2/actions/actions"): ("200", dict[str, Any]),
    ("GET", "/api/v2/actions/actions/{id}"): ("200", dict[str, Any]),
    ("PATCH", "/api/v2/actions/actions/{id}"): ("200", dict[str, Any]),
    ("DELETE", "/api/v2/actions/actions/{id}"): ("204", None),
    ("POST", "/api/v2/actions/actions/{id}/deploy"): ("200", dict[str, Any]),
    ("GET", "/api/v2/actions/triggers/{triggerId}/bindings"): ("200", dict[str, Any]),
    ("PATCH", "/api/v2/actions/triggers/{triggerId}/bindings"): ("200", dict[str, Any]),
    ("GET", "/healthz"): ("200", shapes.Health),
    ("GET", "/readyz"): ("200", shapes.Readiness),
    ("POST", "/api/v2/jobs/users-imports"): ("201", job_models.Job),
    ("POST", "/api/v2/jobs/users-exports"): ("201", job_models.Job),
    ("GET", "/api/v2/jobs/{id}"): ("200", job_models.Job),
    ("GET", "/api/v2/jobs/{id}/errors"): ("200", list[job_models.FailedImport]),
    ("GET", "/api/v2/jobs/{id}/download"): ("200", GZIP_FILE),
    ("GET", "/api/v2/connections"): (
        "200",
        list[job_models.Connection] | job_models.ConnectionPage,
    ),
    ("GET", "/api/v2/connections/{id}"): ("200", job_models.Connection),
    ("POST", "/api/v2/connections"): ("201", job_models.Connection),
    ("PATCH", "/api/v2/connections/{id}"): ("200", job_models.Connection),
    ("DELETE", "/api/v2/connections/{id}"): ("204", None),
    ("GET", "/api/v2/clients"): (
        "200",
        list[applications.Application] | applications.ApplicationPage,
    ),
    ("GET", "/api/v2/clients/{id}"): ("200", applications.Application),
    ("POST", "/api/v2/clients"): ("201", applications.Application),
    ("PATCH", "/api/v2/clients/{id}"): ("200", applications.Application),
    ("DELETE", "/api/v2/clients/{id}"): ("204", None),
    ("POST", "/api/v2/clients/{id}/rotate-secret"): ("200", applications.Application),
}
# Operations that check their token themselves: the scopes they accept.
DECLARED_SCOPES: dict[tuple[str, str], set[str]] = {
    ("PATCH", "/api/v2/users/{id}"): {
        "update:users",
        "update:users_app_metadata",
        "update:current_user_metadata",
        "create:current_user_metadata",
    },
    ("GET", "/userinfo"): {"openid", "profile", "email"},
}
REFUSALS = {
    "400": "Invalid body or parameters",
    "401": "Missing or invalid credentials",
    "403": "Not allowed for this token or client",
    "404": "No such user",
    "429": "Too many attempts",
    "503": "Temporarily unavailable: try again",
}
ANSWERS_ALWAYS = ("/healthz", "/.well-known/jwks.json", "/.well-known/openid-configuration")
CLIENT_AUTHENTICATED = ("/oauth/token", "/dbconnections/signup", "/co/authenticate")
THROTTLED = ("/oauth/token", "/co/authenticate")
# The Authentication API answers OAuth's error body; the rest, Auth0's.
OAUTH_ERRORS = ("/oauth/token", "/userinfo", "/co/authenticate")


def install_openapi(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """The app's document, built once on first request from the routers it includes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, routers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI, routers: Sequence[APIRouter]) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /oauth/token (client credentials, or a "
            "user's password login for the current-user scopes).",
        }
    }
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for model in (shapes.Auth0Error, shapes.OAuthError):
        schemas[model.__name__] = model.model_json_schema()
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            describe(operation, route, method, schemas)
    return schema


def describe(
    operation: dict[str, Any], route: APIRoute, method: str, schemas: dict[str, Any]
) -> None:
    key = (method, route.path_format)
    status, shape = SUCCESSES[key]
    responses: dict[str, Any] = {status: {"description": "Success"}}
    if shape == GZIP_FILE:
        responses[status]["content"] = {GZIP_FILE: {"schema": {"type": "string"}}}
    elif shape is not None:
        responses[status]["content"] = {"application/json": {"schema": _schema(shape, schemas)}}
    declared = DECLARED_SCOPES.get(key)
    scopes = declared if declared is not None else _scopes(route.dependant)
    if scopes is not None:
        operation["security"] = [{BEARER: sorted(scopes)}]
    error = OAUTH_ERROR_REF if route.path_format in OAUTH_ERRORS else ERROR_REF
    for code in _refusals(route.path_format, scopes is not None):
        responses[code] = {
            "description": REFUSALS[code],
            "content": {"application/json": {"schema": {"$ref": error}}},
        }
    operation["responses"] = responses


def _refusals(path: str, needs_token: bool) -> list[str]:
    """The error statuses an operation answers with."""
    if path in ANSWERS_ALWAYS:
        return []
    if path == "/readyz":
        return ["503"]
    codes = ["400", "401", "403"] if needs_token or path in CLIENT_AUTHENTICATED else ["400"]
    if "{id}" in path:
        codes.append("404")
    if path in THROTTLED:
        codes.append("429")
    if path.startswith("/api/v2/"):
        codes.append("503")  # a search that ran out of time, a user changed concurrently
    return codes


def _schema(shape: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of `shape`, its models moved into the document's components."""
    generated = TypeAdapter(shape).json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(generated.pop("$defs", {}))
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        schemas[shape.__name__] = generated
        return {"$ref": f"#/components/schemas/{shape.__name__}"}
    return generated


def _scopes(dependant: Dependant) -> set[str] | None:
    """The scopes an operation accepts (any of them), or None when it needs no token; an empty
    set when any valid token will do and the route decides."""
    needs_token = False
    scopes: set[str] = set()
    for call in _calls(dependant):
        needs_token = needs_token or call is get_principal or isinstance(call, ScopeCheck)
        scopes.update(getattr(call, "scopes", ()))
    return scopes if needs_token else None


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
