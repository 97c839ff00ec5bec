"""Browser login: `/authorize` (with the hosted login and signup pages), the pages' form posts,
`/v2/logout`, and Lock's embedded login (`/client/{id}.js`, `/co/authenticate`).

The HTML routes stay out of the OpenAPI document, as the console's do: they answer a browser
(a cookie and a CSRF token), not the bearer-token JSON API the document describes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from metaledger.api.auth.browser_grants import LOGIN_TICKET, SESSION
from metaledger.api.auth.clients import Client
from metaledger.api.bootstrap import Container
from metaledger.api.http.audit_log import Failure, record
from metaledger.api.http.body import decode, read_limited, validate
from metaledger.api.http.browser.authorization import (
    PARAMETERS,
    AuthorizationRequest,
    ErrorPage,
    Refused,
    parse_request,
)
from metaledger.api.http.browser.login import SESSION_COOKIE, complete, current_session
from metaledger.api.http.console.session import login_form_matches, login_form_token, set_cookie
from metaledger.api.http.deps import ContainerDep, raw_body_of
from metaledger.api.http.errors import ApiError, OAuthError, invalid_body
from metaledger.api.http.responses import json_response
from metaledger.api.http.routes.oauth import authenticate_user, connection_enabled
from metaledger.api.http.routes.signup import SignupRefused, SignupRequest, sign_up
from metaledger.domain.errors import DomainError, UserNotFound
from metaledger.domain.user import User
from metaledger.projections.audit.records import (
    FAILED_LOGIN,
)

HERE = Path(__file__).parent
PAGES = "/u"
CSRF_COOKIE = "metaledger_login_csrf"
CSRF_SECONDS = 3600
FORM_LIMIT = 64 * 1024
# Lock's login ticket is redeemed by the /authorize navigation that follows at once.
LOGIN_TICKET_SECONDS = 60
FIELD_NAME = re.compile(r"^[A-Za-z0-9_]{1,100}$")
FIELD_TYPES = frozenset({"text", "select", "checkbox"})

router = APIRouter(include_in_schema=False)
# What the browser SDKs call as an API (JSON, not pages): in the OpenAPI document.
api_router = APIRouter(tags=["authentication"])
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
templates.globals["pages"] = PAGES


@dataclass(frozen=True)
class SignupField:
    """A field an application adds to its signup form, kept in `user_metadata[name]`."""

    name: str
    label: str
    type: str
    required: bool
    options: tuple[tuple[str, str], ...]  # (value, label), for a select


def signup_fields(client: Client) -> list[SignupField]:
    """The application's `client_metadata.signup_fields`: a JSON list of `{name, label, type
    (text, select or checkbox), required, options: [{value, label}]}`."""
    text = dict(client.client_metadata).get("signup_fields")
    if not text:
        return []
    try:
        entries = orjson.loads(text)
        fields = [_signup_field(entry) for entry in entries]
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError):
        raise ErrorPage(
            "server_error", "The application's client_metadata.signup_fields is not valid."
        ) from None
    return fields


def _signup_field(entry: dict[str, Any]) -> SignupField:
    name, kind = str(entry["name"]), str(entry.get("type", "text"))
    if not FIELD_NAME.match(name) or name in ("email", "password", "username"):
        raise ValueError(name)
    if kind not in FIELD_TYPES:
        raise ValueError(kind)
    options = tuple(
        (str(option["value"]), str(option.get("label", option["value"])))
        for option in entry.get("options", [])
    )
    return SignupField(
        name, str(entry.get("label", name)), kind, bool(entry.get("required", False)), options
    )


def page(
    template: str,
    authorization: AuthorizationRequest | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    # Forms post here, and their answer may redirect to the application: both are allowed.
    form_action = "'self'" + (f" {authorization.origin}" if authorization else "")
    html = templates.get_template(template).render(authorization=authorization, **context)
    return HTMLResponse(
        html,
        status,
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'self'; img-src 'self'; "
                f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            **(headers or {}),
        },
    )


def login_page(
    request: Request,
    authorization: AuthorizationRequest,
    signup: bool,
    status: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
    sent: dict[str, str] | None = None,
) -> HTMLResponse:
    csrf = login_form_token(request, CSRF_COOKIE)
    response = page(
        "signup.html" if signup else "login.html",
        authorization,
        status,
        headers,
        csrf=csrf,
        error=error,
        sent=sent or {},
        fields=signup_fields(authorization.client) if signup else [],
        client_name=authorization.client.name,
    )
    set_cookie(request, response, CSRF_COOKIE, csrf, CSRF_SECONDS, PAGES, "lax")
    return response


def error_page(error: ErrorPage) -> HTMLResponse:
    return page("error.html", None, error.status, error=error)


@router.get("/authorize")
async def authorize(request: Request, container: ContainerDep) -> Response:
    return await run_in_threadpool(_authorize, container, request, dict(request.query_params))


def _authorize(container: Container, request: Request, sent: dict[str, str]) -> Response:
    try:
        authorization = parse_request(container, sent)
        ticket = sent.get("login_ticket")
        if ticket:
            return _redeem_ticket(container, request, authorization, ticket)
        session = current_session(container, request)
        if session is not None and authorization.prompt != "login":
            return complete(container, request, authorization, session.user, fresh=False)
        if authorization.prompt == "none":
            raise Refused(authorization, "login_required", "Login required")
        return login_page(request, authorization, sent.get("screen_hint") == "signup")
    except ErrorPage as error:
        return error_page(error)
    except Refused as refused:
        return refused.response()


def _redeem_ticket(
    container: Container, request: Request, authorization: AuthorizationRequest, ticket: str
) -> Response:
    held = container.grants.take(LOGIN_TICKET, ticket)
    if held is None or held["client_id"] != authorization.client.client_id:
        raise Refused(
            authorization, "access_denied", "The login ticket is invalid, expired or used."
        )
    try:
        user = container.profiles.get_user(str(held["user_id"]))
    except UserNotFound:
        raise Refused(authorization, "access_denied", "The user does not exist.") from None
    return complete(container, request, authorization, user, fresh=True)


async def _posted_form(request: Request) -> dict[str, str]:
    """The page's form as text (a signup field's value stays the string the person typed)."""
    raw = await read_limited(request, FORM_LIMIT)
    try:
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise invalid_body("Invalid request payload form format") from None


@router.post(f"{PAGES}/login")
async def login(request: Request, container: ContainerDep) -> Response:
    form = await _posted_form(request)
    response, refused = await run_in_threadpool(_login, container, request, form)
    if refused is not None:
        failure = refused.failure or Failure(FAILED_LOGIN)
        await record(request, failure, refused.description, form.get("client_id"))
    return response


def _form_authorization(
    container: Container, request: Request, form: dict[str, str], signup: bool
) -> AuthorizationRequest:
    """The authorization request the form carries, once its CSRF token is checked."""
    authorization = parse_request(
        container, {name: form[name] for name in PARAMETERS if name in form}
    )
    if not login_form_matches(request, form.get("csrf_token", ""), CSRF_COOKIE):
        raise FormRefused(
            login_page(
                request,
                authorization,
                signup,
                403,
                "The form expired or was not sent from this page: try again.",
                sent=_kept(form),
            )
        )
    return authorization


class FormRefused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("form refused")
        self.response = response


def _kept(form: dict[str, str]) -> dict[str, str]:
    """What a form shown again keeps: everything but the password."""
    return {name: value for name, value in form.items() if name != "password"}


def _login(
    container: Container, request: Request, form: dict[str, str]
) -> tuple[Response, OAuthError | None]:
    try:
        authorization = _form_authorization(container, request, form, signup=False)
        email = form.get("email", "")
        try:
            user = _authenticate(
                container, request, authorization.connection, email, form.get("password", "")
            )
        except LoginFailed as failed:
            return (
                login_page(
                    request,
                    authorization,
                    False,
                    failed.status,
                    failed.message,
                    failed.refused.headers,
                    _kept(form),
                ),
                failed.refused,
            )
        return complete(container, request, authorization, user, fresh=True), None
    except FormRefused as refused:
        return refused.response, None
    except ErrorPage as error:
        return error_page(error), None
    except Refused as refused:
        return refused.response(), None


class LoginFailed(Exception):
    """A refused login, as the hosted page shows it."""

    def __init__(self, refused: OAuthError) -> None:
        super().__init__(refused.description)
        self.refused = refused
        # The page's status: a wrong password is 401 there, where OAuth answers 403.
        self.status = 401 if refused.status == 403 else refused.status
        self.message = PAGE_MESSAGES.get(refused.description, refused.description)


# The token endpoint's wording, where a person reads it better otherwise.
PAGE_MESSAGES = {
    "user is blocked": "Your account is blocked: contact the application's administrator.",
    "Every sandbox worker is busy; try again.": "The service is busy: try again in a moment.",
}


def _authenticate(
    container: Container, request: Request, connection: str, email: str, password: str
) -> User:
    """The user whose password this is; LoginFailed says why not."""
    if not email or not password:
        raise LoginFailed(OAuthError(400, "invalid_request", "Enter your email and password."))
    ip = request.client.host if request.client else "unknown"
    try:
        return authenticate_user(container, connection, email, password, ip)
    except OAuthError as refused:
        raise LoginFailed(refused) from None


@router.post(f"{PAGES}/signup")
async def signup(request: Request, container: ContainerDep) -> Response:
    form = await _posted_form(request)
    return await run_in_threadpool(_signup, container, request, form)


def _signup(container: Container, request: Request, form: dict[str, str]) -> Response:
    try:
        authorization = _form_authorization(container, request, form, signup=True)
        fields = signup_fields(authorization.client)

        def again(status: int, message: str) -> Response:
            return login_page(request, authorization, True, status, message, sent=_kept(form))

        user_metadata = {}
        for entry in fields:
            value = form.get(entry.name, "")
            if entry.type == "checkbox":
                value = "true" if value else "false"
            elif entry.required and not value.strip():
                return again(400, f"{entry.label} is required.")
            elif entry.type == "select" and value and value not in dict(entry.options):
                return again(400, f"Choose one of the {entry.label} options.")
            user_metadata[entry.name] = value
        try:
            body = validate(
                SignupRequest,
                {
                    "client_id": authorization.client.client_id,
                    "email": form.get("email", ""),
                    "password": form.get("password", ""),
                    "connection": authorization.connection,
                    "user_metadata": user_metadata,
                },
            )
            sign_up(container, request, body)
        except SignupRefused as refused:
            return again(refused.body["statusCode"], _signup_message(refused.body))
        except (ApiError, DomainError) as error:
            return again(400, _signup_message({"message": error.message}))
        try:
            user = _authenticate(
                container, request, authorization.connection, body.email, form.get("password", "")
            )
        except LoginFailed as failed:
            return again(failed.status, failed.message)
        return complete(container, request, authorization, user, fresh=True)
    except FormRefused as refused:
        return refused.response
    except ErrorPage as error:
        return error_page(error)
    except Refused as refused:
        return refused.response()


def _signup_message(body: dict[str, Any]) -> str:
    description = body.get("description")
    if body.get("code") == "invalid_password" and isinstance(description, dict):
        unmet = [
            rule["message"] % tuple(rule.get("format", ()))
            for rule in description.get("rules", [])
            if not rule.get("verified", True)
        ]
        return "The password is too weak. " + " ".join(unmet)
    if body.get("message") == "Invalid sign up":
        return "This email cannot sign up: it may already have an account. Log in instead."
    return str(body.get("message", "The signup was refused."))


@router.get("/v2/logout")
async def logout(request: Request, container: ContainerDep) -> Response:
    return await run_in_threadpool(_logout, container, request, dict(request.query_params))


def _logout(container: Container, request: Request, sent: dict[str, str]) -> Response:
    return_to = sent.get("returnTo")
    client = container.clients.get(sent.get("client_id"))
    if return_to and (client is None or return_to not in client.allowed_logout_urls):
        return error_page(
            ErrorPage(
                "invalid_request",
                f"The returnTo URL {return_to} is not in the list of allowed logout URLs of "
                "the application.",
            )
        )
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        container.grants.revoke(SESSION, secret)
    response: Response = (
        RedirectResponse(return_to, 302) if return_to else page("logged_out.html", None)
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/client/{client_id}.js")
def client_script(client_id: str, container: ContainerDep) -> Response:
    """Lock's client configuration, as JSONP: the application's database connections."""
    client = container.clients.get(client_id)
    if client is None:
        return Response("/* unknown client */", 404, media_type="application/javascript")
    policy = container.password_policy
    connections = sorted(client.connections) or [container.settings.default_directory]
    setting = {
        "id": client.client_id,
        "tenant": "metaledger",
        "subscription": "free",
        "strategies": [
            {
                "name": "auth0",
                "connections": [
                    {
                        "name": name,
                        "showSignup": True,
                        "showForgot": False,
                        "requires_username": False,
                        "passwordPolicy": "none",
                        "password_complexity_options": {"min_length": policy.min_length},
                    }
                    for name in connections
                ],
            }
        ],
    }
    body = f"Auth0.setClient({orjson.dumps(setting).decode()});"
    return Response(
        body, media_type="application/javascript", headers={"Cache-Control": "no-store"}
    )


class CrossOriginLogin(BaseModel):
    """Lock's (auth0-js's) cross-origin login, for the OpenAPI document."""

    model_config = ConfigDict(extra="allow")

    client_id: str
    username: str
    password: str
    realm: str
    credential_type: str | None = None


@api_router.post(
    "/co/authenticate",
    summary="Check a password for an embedded login (Lock) and answer a login ticket",
    openapi_extra=raw_body_of(CrossOriginLogin),
)
async def cross_origin_authenticate(request: Request, container: ContainerDep) -> Response:
    raw = await read_limited(request, FORM_LIMIT)
    try:
        body = decode(raw, request.headers.get("content-type", ""))
    except ApiError as error:  # the Authentication API answers OAuth's body
        raise OAuthError(error.status, "invalid_request", error.message) from None
    try:
        return await run_in_threadpool(_cross_origin, container, request, body)
    except OAuthError as error:
        await record(
            request,
            error.failure or Failure(FAILED_LOGIN),
            error.description,
            str(body.get("client_id", "")) or None,
        )
        raise


def _cross_origin(container: Container, request: Request, body: dict[str, Any]) -> Response:
    client = container.clients.get(str(body.get("client_id", "")) or None)
    if client is None:
        raise OAuthError(401, "unauthorized_client", "Unknown client.")
    origin = request.headers.get("origin")
    if (
        origin is not None
        and origin not in client.allowed_origins
        and origin not in client.web_origins
    ):
        raise OAuthError(403, "access_denied", f"Origin {origin} is not allowed.")
    username, password = body.get("username"), body.get("password")
    realm = body.get("realm") or body.get("connection")
    if not (
        isinstance(username, str)
        and isinstance(password, str)
        and isinstance(realm, str)
        and username
        and password
    ):
        raise OAuthError(400, "invalid_request", "username, password and realm are required")
    if not connection_enabled(container, client, realm):
        raise OAuthError(
            403, "unauthorized_client", f"The connection {realm} is not enabled for the client."
        )
    ip = request.client.host if request.client else "unknown"
    try:
        user = authenticate_user(container, realm, username, password, ip)
    except OAuthError as refused:
        if refused.error != "invalid_grant":
            raise
        # Lock shows its "Wrong email or password" for access_denied, as Auth0 answers here.
        raise OAuthError(
            403, "access_denied", refused.description, failure=refused.failure
        ) from None
    ticket = container.grants.issue(
        LOGIN_TICKET, {"client_id": client.client_id, "user_id": user.user_id}, LOGIN_TICKET_SECONDS
    )
    return json_response(
        {
            "login_ticket": ticket,
            "co_verifier": secrets.token_urlsafe(32),
            "co_id": secrets.token_urlsafe(12),
        }
    )
