"""Auth0's error body `{statusCode, error, message, errorCode}` for every failure."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from metaledger.api.http.audit_log import Failure, failed_api_call
from metaledger.domain.errors import (
    DomainError,
    EmailAlreadyInUse,
    InvalidRequest,
    UnknownConnection,
    UserAlreadyExists,
    UserNotFound,
)
from metaledger.domain.profiles import ConcurrentUpdateError

log = logging.getLogger("metaledger.api")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


def error_response(
    status: int, message: str, error_code: str | None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if error_code:
        body["errorCode"] = error_code
    return Response(
        orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class OAuthError(Exception):
    """Authentication API errors use OAuth's `{error, error_description}` body; `failure`
    says how the log records a refused login, when it is known."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: dict[str, str] | None = None,
        failure: Failure | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}
        self.failure = failure


def invalid_body(message: str) -> ApiError:
    return ApiError(400, message, "invalid_body")


_DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    InvalidRequest: (400, "invalid_body"),
    UnknownConnection: (400, "invalid_body"),
    UserNotFound: (404, "inexistent_user"),
    UserAlreadyExists: (409, "auth0_idp_error"),
    EmailAlreadyInUse: (400, "auth0_idp_error"),
}


def _query_message(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ())[1:])
    return f"Query validation error: '{error.get('msg', 'invalid value')}' on property {location}."


async def refused(
    request: Request,
    status: int,
    message: str,
    error_code: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error body of a refused call, recorded in the log first (`fapi`)."""
    await failed_api_call(request, status, message, error_code)
    return error_response(status, message, error_code, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return await refused(request, error.status, error.message, error.error_code, error.headers)

    @app.exception_handler(OAuthError)
    async def oauth_error(_: Request, error: OAuthError) -> Response:
        body = {"error": error.error, "error_description": error.description}
        return Response(
            orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE),
            status_code=error.status,
            media_type="application/json",
            headers=error.headers,
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        status, code = _DOMAIN_ERRORS.get(type(error), (400, "invalid_body"))
        return await refused(request, status, error.message, code)

    @app.exception_handler(ConcurrentUpdateError)
    async def concurrent_update(request: Request, error: ConcurrentUpdateError) -> Response:
        return await refused(
            request,
            503,
            "The user is being changed concurrently; try again.",
            "temporarily_unavailable",
        )

    @app.exception_handler(RequestValidationError)
    async def request_validation(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        location = first.get("loc", ("query",))[0]
        if location == "path":
            return await refused(request, 400, _query_message(first), "invalid_uri")
        if location == "body":
            return await refused(request, 400, "Payload validation error.", "invalid_body")
        return await refused(request, 400, _query_message(first), "invalid_query_string")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        status = error.status_code
        message = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
        return await refused(request, status, message, None, dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal Server Error", None)
