"""OAuth 2.0 / OIDC authorization requests: checking one against its application, and answering
it (a code, tokens, or an error) in the response mode asked for.

Until the application and its redirect URI are known good, errors are a page of ours: a
redirect to an unchecked URI would make metaledger an open redirector.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
from starlette.responses import HTMLResponse, RedirectResponse, Response

from metaledger.api.auth.clients import AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN, Client
from metaledger.api.auth.user_tokens import user_scopes
from metaledger.api.bootstrap import Container
from metaledger.api.http.errors import OAuthError
from metaledger.api.http.routes.oauth import connection_enabled, requested_audience

CODE_ONLY = frozenset({"code"})
RESPONSE_TYPES = {
    "code": CODE_ONLY,
    "token": frozenset({"token"}),
    "id_token": frozenset({"id_token"}),
    "token id_token": frozenset({"token", "id_token"}),
    "id_token token": frozenset({"token", "id_token"}),
}
RESPONSE_MODES = frozenset({"query", "fragment", "form_post", "web_message"})
OFFLINE_ACCESS = "offline_access"
# What an authorization request carries through the hosted login page's forms.
PARAMETERS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "audience",
    "state",
    "nonce",
    "connection",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)


class ErrorPage(Exception):
    """A request that cannot be answered at its redirect URI: shown as a page of ours."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class AuthorizationError(Exception):
    """An error returned to the application at its (checked) redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    response_types: frozenset[str]
    response_mode: str
    scopes: list[str]
    audience: str | None
    connection: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: str | None
    # The request as sent, for the hosted page's forms to carry to the login.
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return origin_of(self.redirect_uri)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_request(container: Container, sent: Mapping[str, str]) -> AuthorizationRequest:
    """The checked request. Raises ErrorPage before the redirect URI is trusted, then
    AuthorizationError (carrying the request, to answer at that URI)."""
    client_id = sent.get("client_id", "")
    client = container.clients.get(client_id)
    if client is None:
        raise ErrorPage(
            "invalid_request",
            f"Unknown client: {client_id}"
            if client_id
            else ("Missing required parameter: client_id"),
        )
    redirect_uri = sent.get("redirect_uri") or (client.callbacks[0] if client.callbacks else "")
    if not redirect_uri:
        raise ErrorPage("invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in client.callbacks:
        raise ErrorPage(
            "invalid_request",
            f"The redirect_uri {redirect_uri} is not in the list of allowed callback URLs of "
            "the application.",
        )
    response_type = " ".join(sent.get("response_type", "").split())
    types = RESPONSE_TYPES.get(response_type)
    mode = sent.get("response_mode") or ("query" if types == CODE_ONLY else "fragment")
    if mode not in RESPONSE_MODES:
        raise ErrorPage("invalid_request", f"Unsupported response_mode: {mode}")
    if mode == "web_message" and origin_of(redirect_uri) not in client.web_origins:
        raise ErrorPage(
            "invalid_request",
            f"The origin {origin_of(redirect_uri)} is not in the list of allowed web origins "
            "of the application.",
        )
    partial = AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        response_types=types or frozenset(),
        response_mode=mode,
        scopes=[],
        audience=None,
        connection="",
        state=sent.get("state"),
        nonce=sent.get("nonce"),
        code_challenge=None,
        prompt=sent.get("prompt"),
        parameters={name: sent[name] for name in PARAMETERS if sent.get(name)},
    )
    try:
        return _checked(container, partial, sent)
    except AuthorizationError as error:
        raise Refused(partial, error.error, error.description) from None


class Refused(Exception):
    """An AuthorizationError with the (partly checked) request to answer it at."""

    def __init__(self, request: AuthorizationRequest, error: str, description: str) -> None:
        super().__init__(description)
        self.request = request
        self.error = error
        self.description = description

    def response(self) -> Response:
        return respond(self.request, {"error": self.error, "error_description": self.description})


def _checked(
    container: Container, partial: AuthorizationRequest, sent: Mapping[str, str]
) -> AuthorizationRequest:
    client, types = partial.client, partial.response_types
    if not types:
        raise AuthorizationError(
            "unsupported_response_type",
            f"Unsupported response type: {sent.get('response_type', '')}",
        )
    if partial.response_mode == "query" and types != CODE_ONLY:
        raise AuthorizationError(
            "invalid_request", "response_mode query is not allowed when tokens are returned"
        )
    grant = AUTHORIZATION_CODE if "code" in types else IMPLICIT
    if grant not in client.grants:
        raise AuthorizationError(
            "unauthorized_client", f"Grant type '{grant}' not allowed for the client."
        )
    if "id_token" in types and not partial.nonce:
        raise AuthorizationError("invalid_request", "Missing required parameter: nonce")
    challenge = sent.get("code_challenge")
    method = sent.get("code_challenge_method") or ("S256" if challenge else "")
    if challenge and method != "S256":
        raise AuthorizationError(
            "invalid_request", "Unsupported code_challenge_method: only S256 is supported"
        )
    if "code" in types and client.is_public and not challenge:
        raise AuthorizationError(
            "invalid_request", "Parameter 'code_challenge' is required for public clients"
        )
    prompt = partial.prompt
    if prompt not in (None, "", "none", "login"):
        raise AuthorizationError("invalid_request", f"Unsupported prompt: {prompt}")
    try:
        audience = requested_audience(container, dict(sent))
    except OAuthError as error:
        raise AuthorizationError(error.error, error.description) from None
    scopes = user_scopes(sent.get("scope") or "openid", management=audience is not None)
    if OFFLINE_ACCESS in (sent.get("scope") or "").split() and REFRESH_TOKEN in client.grants:
        scopes.append(OFFLINE_ACCESS)
    connection = sent.get("connection") or default_connection(container, client)
    if not connection_enabled(container, client, connection):
        raise AuthorizationError("invalid_request", "the connection was not found")
    return AuthorizationRequest(
        client=client,
        redirect_uri=partial.redirect_uri,
        response_types=types,
        response_mode=partial.response_mode,
        scopes=scopes,
        audience=audience,
        connection=connection,
        state=partial.state,
        nonce=partial.nonce,
        code_challenge=challenge,
        prompt=prompt,
        parameters=partial.parameters,
    )


def default_connection(container: Container, client: Client) -> str:
    """The application's only database connection, else the default directory."""
    if len(client.connections) == 1:
        return next(iter(client.connections))
    return container.settings.default_directory


def respond(request: AuthorizationRequest, values: dict[str, Any]) -> Response:
    """The answer at the redirect URI, in the request's response mode."""
    answer = {name: str(value) for name, value in values.items() if value is not None}
    if request.state is not None:
        answer["state"] = request.state
    mode = request.response_mode
    if mode == "web_message":
        return _script_page(
            "(window.opener || window.parent).postMessage("
            f"{{type: 'authorization_response', response: {_js(answer)}}}, "
            f"{_js(request.origin)});"
        )
    if mode == "form_post":
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in answer.items()
        )
        return _script_page(
            "document.forms[0].submit();",
            f'<form method="post" action="{html.escape(request.redirect_uri)}">{inputs}'
            '<noscript><button type="submit">Continue</button></noscript></form>',
        )
    parts = urlsplit(request.redirect_uri)
    if mode == "query":
        query = "&".join(filter(None, (parts.query, urlencode(answer))))
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    else:
        location = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, parts.query, urlencode(answer))
        )
    return RedirectResponse(location, 302, headers={"Cache-Control": "no-store"})


def _js(value: Any) -> str:
    """A JSON literal that cannot close the script element it sits in."""
    return orjson.dumps(value).decode().replace("<", "\\u003c")


def _script_page(script: str, body: str = "") -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in</title>'
        f'</head><body>{body}<script nonce="{nonce}">{script}</script></body></html>'
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{nonce}'; "
            "form-action *",
            "Cache-Control": "no-store",
        },
    )
