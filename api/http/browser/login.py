"""Completing a browser login: the login pipeline (`UserLoggedIn`, Rules and Actions), the
browser session, and the code or tokens the authorization request asked for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from metaledger.api.auth.browser_grants import CODE, SESSION
from metaledger.api.auth.user_tokens import id_token, user_token_response
from metaledger.api.bootstrap import Container
from metaledger.api.http.browser.authorization import AuthorizationRequest, Refused, respond
from metaledger.api.http.console.session import set_cookie
from metaledger.api.http.deps import request_id
from metaledger.api.http.errors import OAuthError
from metaledger.api.http.routes.oauth import run_login_code
from metaledger.api.sandbox.pipeline import Claims, Login
from metaledger.domain.actor import Actor
from metaledger.domain.errors import UserNotFound
from metaledger.domain.user import User

SESSION_COOKIE = "metaledger_session"
# Auth0's default absolute session lifetime is 7 days.
SESSION_SECONDS = 7 * 24 * 3600
# A code is redeemed by the application's callback at once; Auth0's lives a minute or so.
CODE_SECONDS = 60


@dataclass(frozen=True)
class Session:
    secret: str
    user: User


def current_session(container: Container, request: Request) -> Session | None:
    """The browser's live session, unless its user is gone or blocked since."""
    secret = request.cookies.get(SESSION_COOKIE)
    held = container.grants.peek(SESSION, secret) if secret else None
    if secret is None or held is None:
        return None
    try:
        user = container.profiles.get_user(str(held["user_id"]))
    except UserNotFound:
        return None
    return None if user.profile.get("blocked") is True else Session(secret, user)


def complete(
    container: Container,
    request: Request,
    authorization: AuthorizationRequest,
    user: User,
    *,
    fresh: bool,
) -> Response:
    """The authorization response for `user`. `fresh`: the user just proved their password
    (recorded as a login, and a new session opened); otherwise an existing session answers."""
    client = authorization.client
    grant = "authorization_code" if "code" in authorization.response_types else "implicit"
    ip = request.client.host if request.client else "unknown"
    if fresh:
        actor = Actor(
            kind="user", id=user.user_id, grant=grant, request_id=request_id(request), ip=ip
        )
        user = container.profiles.record_login(user.user_id, ip, client.client_id, actor).user
    login = Login(
        client_id=client.client_id,
        client_name=client.name,
        connection=authorization.connection,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        hostname=request.url.hostname or "",
        request_id=request_id(request) or "",
        protocol="oidc-basic-profile",
        scopes=tuple(authorization.scopes),
    )
    try:
        added = run_login_code(container, user, login)
    except OAuthError as refused:
        raise Refused(authorization, refused.error, refused.description) from None
    if added.ran:  # the code may have written the metadata that claims copy
        user = container.profiles.get_user(user.user_id)
    response = respond(authorization, _answer(container, authorization, user, added))
    if fresh:
        open_session(container, request, response, user, authorization.connection)
    return response


def open_session(
    container: Container, request: Request, response: Response, user: User, connection: str
) -> None:
    """A new browser session (the one the cookie held before ends)."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        container.grants.revoke(SESSION, previous)
    secret = container.grants.issue(
        SESSION, {"user_id": user.user_id, "connection": connection}, SESSION_SECONDS
    )
    set_cookie(request, response, SESSION_COOKIE, secret, SESSION_SECONDS, "/", "lax")


def _answer(
    container: Container, authorization: AuthorizationRequest, user: User, added: Claims
) -> dict[str, Any]:
    types, client_id = authorization.response_types, authorization.client.client_id
    answer: dict[str, Any] = {}
    if "code" in types:
        # The tokens a code gives are of its family: a replayed code revokes them.
        family = secrets.token_hex(16)
        answer["code"] = container.grants.issue(
            CODE,
            {
                "family": family,
                "client_id": client_id,
                "redirect_uri": authorization.redirect_uri,
                "code_challenge": authorization.code_challenge,
                "user_id": user.user_id,
                "connection": authorization.connection,
                "scopes": authorization.scopes,
                "audience": authorization.audience,
                "nonce": authorization.nonce,
                "id_token_claims": added.id_token,
                "access_token_claims": added.access_token,
            },
            CODE_SECONDS,
            family,
        )
        return answer
    scopes = authorization.scopes
    if "id_token" in types and "openid" not in scopes:
        scopes = ["openid", *scopes]
    claims = container.settings.claims
    body = user_token_response(
        container.tokens,
        user,
        client_id,
        scopes,
        authorization.audience,
        claims,
        added,
        grant="implicit",
        nonce=authorization.nonce,
    )
    if "token" in types:
        answer.update(
            access_token=body["access_token"],
            token_type="Bearer",
            expires_in=body["expires_in"],
            scope=body["scope"],
        )
        if "id_token" in types:
            answer["id_token"] = body["id_token"]
    else:  # an ID token alone: nothing for `at_hash` to bind it to
        answer["id_token"] = id_token(
            container.tokens, user, client_id, scopes, claims, added, authorization.nonce, None
        )
    return answer
