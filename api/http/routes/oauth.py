"""Authentication API: `POST /oauth/token` (client credentials, password, password-realm,
authorization_code with PKCE, and rotating refresh tokens)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from metaledger.api.auth.browser_grants import CODE, REFRESH_TOKEN
from metaledger.api.auth.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    PASSWORD,
    PASSWORD_REALM,
    Client,
)
from metaledger.api.auth.clients import REFRESH_TOKEN as REFRESH_TOKEN_GRANT
from metaledger.api.auth.login import (
    SuspiciousIp,
    TooManyAttempts,
    UserBlocked,
    WrongCredentials,
)
from metaledger.api.auth.tokens import CLIENT_CREDENTIALS_GRANT
from metaledger.api.auth.user_tokens import PASSWORD_GRANT, user_scopes, user_token_response
from metaledger.api.bootstrap import Container
from metaledger.api.custom_databases import ScriptFailed, ScriptRefused
from metaledger.api.http.audit_log import Failure, record
from metaledger.api.http.body import decode, read_limited
from metaledger.api.http.deps import ContainerDep, request_id
from metaledger.api.http.errors import OAuthError
from metaledger.api.http.responses import json_response
from metaledger.api.sandbox.pipeline import Claims, CodeRefused, Login, SandboxBusy
from metaledger.domain.actor import Actor
from metaledger.domain.errors import UserNotFound
from metaledger.domain.user import User
from metaledger.projections.audit.records import (
    BLOCKED_ACCOUNT,
    BLOCKED_IP,
    FAILED_EXCHANGE,
    FAILED_LOGIN,
    SUCCESS_EXCHANGE,
    UNKNOWN_USER,
    WRONG_PASSWORD,
)

router = APIRouter(tags=["authentication"])

TOKEN_FORM_LIMIT = 64 * 1024
# Set by a trusted (confidential) server-side application: the end user's address, so that
# brute-force protection counts per user and not per application server.
FORWARDED_FOR = "auth0-forwarded-for"
# Auth0's descriptions of its two throttles: brute-force protection (one user from one IP) and
# suspicious IP throttling (one IP, whatever the username).
ACCOUNT_BLOCKED = "Your account has been blocked after multiple consecutive login attempts."
SUSPICIOUS_IP = (
    "We have detected suspicious login behavior and further attempts will be blocked. "
    "Please contact the administrator."
)


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return client_id, secret


def _ip_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def authenticate_client(
    container: Container, request: Request, form: dict[str, Any], grant_type: str
) -> Client:
    """The calling application, allowed `grant_type`. A public application names itself by
    client_id; a confidential one must also prove its secret."""
    basic_id, basic_secret = _basic_credentials(request)
    client_id = form.get("client_id") or basic_id
    secret = form.get("client_secret") or basic_secret
    client = container.clients.get(client_id if isinstance(client_id, str) else None)
    if client is None or not (
        client.is_public or client.secret_matches(secret if isinstance(secret, str) else None)
    ):
        raise OAuthError(401, "access_denied", "Unauthorized")
    if grant_type not in client.grants:
        raise OAuthError(
            403, "unauthorized_client", f"Grant type '{grant_type}' not allowed for the client."
        )
    return client


def requested_audience(container: Container, form: dict[str, Any]) -> str | None:
    audience = form.get("audience")
    if audience is None or audience == "":
        return None
    if audience == container.settings.management_audience:
        return str(audience)
    raise OAuthError(403, "access_denied", f"Service not enabled within domain: {audience}")


def granted_scopes(requested: object, allowed: tuple[str, ...]) -> list[str]:
    """All the client's scopes, or those of them that were asked for."""
    if not isinstance(requested, str) or not requested.strip():
        return list(allowed)
    asked = set(requested.split())
    return [scope for scope in allowed if scope in asked]


def _client_id(request: Request, form: dict[str, Any]) -> str | None:
    """The client a token request names, for the log (authenticated or not)."""
    named = form.get("client_id")
    return named if isinstance(named, str) and named else _basic_credentials(request)[0]


def required(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise OAuthError(400, "invalid_request", f"Missing required parameter: {name}")
    return value


def client_credentials(container: Container, request: Request, form: dict[str, Any]) -> Response:
    client = authenticate_client(container, request, form, CLIENT_CREDENTIALS)
    audience = requested_audience(container, form) or container.settings.management_audience
    scopes = granted_scopes(form.get("scope"), client.scopes)
    access_token = container.tokens.issue(
        sub=f"{client.client_id}@clients",
        audience=audience,
        scopes=scopes,
        client_id=client.client_id,
        grant=CLIENT_CREDENTIALS_GRANT,
    )
    return json_response(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": container.settings.token_lifetime_seconds,
            "scope": " ".join(scopes),
        }
    )


def password_login(
    container: Container, request: Request, form: dict[str, Any], grant_type: str
) -> Response:
    """The resource-owner password grants; with `password-realm` the realm names the
    connection, with `password` the default directory is used."""
    client = authenticate_client(container, request, form, grant_type)
    username = required(form, "username")
    password = required(form, "password")
    connection = (
        required(form, "realm")
        if grant_type == PASSWORD_REALM
        else container.settings.default_directory
    )
    if not connection_enabled(container, client, connection):
        raise OAuthError(
            403,
            "unauthorized_client",
            f"The connection {connection} is not enabled for the client.",
        )
    audience = requested_audience(container, form)
    scopes = user_scopes(form.get("scope"), management=audience is not None)
    socket_ip = request.client.host if request.client else "unknown"
    forwarded = _ip_address(request.headers.get(FORWARDED_FOR, ""))
    ip = forwarded if forwarded and not client.is_public else socket_ip
    user = authenticate_user(container, connection, username, password, ip)
    actor = Actor(
        kind="user",
        id=user.user_id,
        grant=PASSWORD_GRANT,
        request_id=request_id(request),
        ip=socket_ip,
    )
    written = container.profiles.record_login(user.user_id, ip, client.client_id, actor)
    login = Login(
        client_id=client.client_id,
        client_name=client.name,
        connection=connection,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        hostname=request.url.hostname or "",
        request_id=actor.request_id or "",
        scopes=tuple(scopes),
    )
    added = run_login_code(container, written.user, login)
    # The code may have written the user's metadata, which configured claims copy.
    user_now = container.profiles.get_user(user.user_id) if added.ran else written.user
    return json_response(
        user_token_response(
            container.tokens,
            user_now,
            client.client_id,
            scopes,
            audience,
            container.settings.claims,
            added,
        )
    )


OFFLINE_ACCESS = "offline_access"
# Auth0's default absolute lifetime of a rotating refresh token.
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600
INVALID_CODE = "Invalid authorization code"
INVALID_REFRESH_TOKEN = "Unknown or invalid refresh token."


def _taken_by(
    container: Container, client: Client, kind: str, secret: str, invalid: str
) -> dict[str, Any]:
    """The grant behind `secret`, taken once, by the application it was issued to. A secret
    used again may have been stolen: what its first use gave (its family) is revoked."""
    held = container.grants.take(kind, secret)
    if held is None:
        family = container.grants.taken_family(kind, secret)
        if family is not None:
            container.grants.revoke_family(family)
        raise OAuthError(403, "invalid_grant", invalid)
    if held["client_id"] != client.client_id:
        raise OAuthError(403, "invalid_grant", invalid)
    return held


def authorization_code(container: Container, request: Request, form: dict[str, Any]) -> Response:
    """A code from /authorize, redeemed once by the application it was issued to, at the same
    redirect URI, with the PKCE verifier of its challenge."""
    client = authenticate_client(container, request, form, AUTHORIZATION_CODE)
    held = _taken_by(container, client, CODE, required(form, "code"), INVALID_CODE)
    if form.get("redirect_uri") != held["redirect_uri"]:
        raise OAuthError(
            403, "invalid_grant", "redirect_uri does not match the authorization request"
        )
    challenge = held["code_challenge"]
    verifier = form.get("code_verifier")
    if challenge is not None and not (
        isinstance(verifier, str) and pkce_matches(challenge, verifier)
    ):
        raise OAuthError(403, "invalid_grant", "Failed to verify code verifier")
    # Rules and Actions ran at the login that issued the code; what they added comes with it.
    added = Claims(id_token=held["id_token_claims"], access_token=held["access_token_claims"])
    user = _browser_user(container, held)
    return _browser_tokens(container, client, user, held, held["nonce"], held["family"], added)


def refresh_token(container: Container, request: Request, form: dict[str, Any]) -> Response:
    """A rotating refresh token: each use answers a new one of the same family; a token used
    twice (stolen, or replayed) revokes the whole family."""
    client = authenticate_client(container, request, form, REFRESH_TOKEN_GRANT)
    secret = required(form, "refresh_token")
    held = _taken_by(container, client, REFRESH_TOKEN, secret, INVALID_REFRESH_TOKEN)
    user = _browser_user(container, held)
    # As on Auth0, Rules and Actions run again: a refresh token keeps no claims of its own.
    login = Login(
        client_id=client.client_id,
        client_name=client.name,
        connection=str(held["connection"]),
        ip=request.client.host if request.client else "unknown",
        user_agent=request.headers.get("user-agent", ""),
        hostname=request.url.hostname or "",
        request_id=request_id(request) or "",
        protocol="oauth2-refresh-token",
        scopes=tuple(held["scopes"]),
    )
    added = run_login_code(container, user, login)
    if added.ran:  # the code may have written the metadata that claims copy
        user = container.profiles.get_user(user.user_id)
    return _browser_tokens(container, client, user, held, None, str(held["family"]), added)


def _browser_user(container: Container, held: dict[str, Any]) -> User:
    """The user a code or refresh token was issued for, while they exist and are not blocked."""
    try:
        user = container.profiles.get_user(str(held["user_id"]))
    except UserNotFound:
        raise OAuthError(403, "invalid_grant", "The user does not exist.") from None
    if user.profile.get("blocked") is True:
        raise OAuthError(401, "unauthorized", "user is blocked")
    return user


def _browser_tokens(
    container: Container,
    client: Client,
    user: User,
    held: dict[str, Any],
    nonce: str | None,
    family: str,
    added: Claims,
) -> Response:
    """Tokens for a user who logged in through the browser; with `offline_access`, a refresh
    token too, of the family of the code it comes from."""
    scopes = [str(scope) for scope in held["scopes"]]
    body = user_token_response(
        container.tokens,
        user,
        client.client_id,
        [scope for scope in scopes if scope != OFFLINE_ACCESS],
        held["audience"],
        container.settings.claims,
        added,
        grant=AUTHORIZATION_CODE,
        nonce=nonce,
    )
    if OFFLINE_ACCESS in scopes and REFRESH_TOKEN_GRANT in client.grants:
        kept = {name: held[name] for name in REFRESH_KEPT}
        body["refresh_token"] = container.grants.issue(
            REFRESH_TOKEN, {**kept, "family": family}, REFRESH_TOKEN_SECONDS, family
        )
        body["scope"] = " ".join(filter(None, (body["scope"], OFFLINE_ACCESS)))
    return json_response(body)


# What a refresh token keeps of its login, to issue the same tokens again.
REFRESH_KEPT = ("client_id", "user_id", "connection", "scopes", "audience")


def pkce_matches(challenge: str, verifier: str) -> bool:
    """RFC 7636's S256: the challenge is base64url(SHA-256(verifier))."""
    digest = hashlib.sha256(verifier.encode()).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def authenticate_user(
    container: Container, connection: str, username: str, password: str, ip: str
) -> User:
    """The user whose password this is (through brute-force protection and custom databases);
    a refusal is the OAuth error Auth0 answers, with how the log records it."""
    try:
        return container.login.authenticate(connection, username, password, ip)
    except TooManyAttempts as refused:
        suspicious = isinstance(refused, SuspiciousIp)
        raise OAuthError(
            429,
            "too_many_attempts",
            SUSPICIOUS_IP if suspicious else ACCOUNT_BLOCKED,
            headers=refused.block.headers(),
            failure=Failure(
                BLOCKED_IP if suspicious else BLOCKED_ACCOUNT,
                user_name=username,
                connection=connection,
            ),
        ) from None
    except WrongCredentials as wrong:
        raise OAuthError(
            403,
            "invalid_grant",
            "Wrong email or password.",
            failure=Failure(
                UNKNOWN_USER if wrong.user_id is None else WRONG_PASSWORD,
                user_id=wrong.user_id,
                user_name=username,
                connection=connection,
            ),
        ) from None
    except UserBlocked as blocked:
        raise OAuthError(
            401,
            "unauthorized",
            "user is blocked",
            failure=Failure(
                FAILED_LOGIN, user_id=blocked.user_id, user_name=username, connection=connection
            ),
        ) from None
    except (ScriptFailed, ScriptRefused) as failed:
        # The connection's login script failed: Auth0 answers the script's message.
        raise OAuthError(
            403,
            "access_denied",
            failed.message,
            failure=Failure(FAILED_LOGIN, user_name=username, connection=connection),
        ) from None
    except SandboxBusy:
        raise OAuthError(
            503, "temporarily_unavailable", "Every sandbox worker is busy; try again."
        ) from None


def connection_enabled(container: Container, client: Client, connection: str) -> bool:
    """Whether the application may log users in (or sign them up) on `connection`: one it
    lists, or a stored connection that lists it (or any, for the admin client)."""
    if connection in client.connections:
        return True
    if client.all_connections:
        return container.connections.stored_by_name(connection) is not None
    return container.connections.enables(connection, client.client_id)


def run_login_code(container: Container, user: User, login: Login) -> Claims:
    """The tenant's Rules and post-login Actions; a refusal is OAuth's `access_denied`."""
    try:
        return container.pipeline.post_login(user, login)
    except CodeRefused as refused:
        raise OAuthError(
            403,
            "access_denied",
            refused.message,
            failure=Failure(
                FAILED_LOGIN,
                user_id=user.user_id,
                user_name=user.email,
                connection=login.connection,
            ),
        ) from None
    except SandboxBusy:
        raise OAuthError(
            503, "temporarily_unavailable", "Every sandbox worker is busy; try again."
        ) from None


@router.post("/oauth/token", summary="Get an access token")
async def token(request: Request, container: ContainerDep) -> Response:
    form = decode(
        await read_limited(request, TOKEN_FORM_LIMIT), request.headers.get("content-type", "")
    )
    # Only text is a grant type: anything else would be echoed into the error below.
    grant_type = required(form, "grant_type")
    exchange = grant_type == CLIENT_CREDENTIALS
    try:
        if exchange:
            response = client_credentials(container, request, form)
            await record(
                request,
                Failure(SUCCESS_EXCHANGE),
                "Client Credentials for Access Token",
                _client_id(request, form),
            )
            return response
        if grant_type in (PASSWORD, PASSWORD_REALM):
            # Hashing is slow on purpose: off the event loop.
            return await run_in_threadpool(password_login, container, request, form, grant_type)
        if grant_type == AUTHORIZATION_CODE:
            return await run_in_threadpool(authorization_code, container, request, form)
        if grant_type == REFRESH_TOKEN_GRANT:
            return await run_in_threadpool(refresh_token, container, request, form)
    except OAuthError as error:
        failure = error.failure or Failure(FAILED_EXCHANGE if exchange else FAILED_LOGIN)
        await record(request, failure, error.description, _client_id(request, form))
        raise
    raise OAuthError(
        403, "unauthorized_client", f"Grant type '{grant_type}' not allowed for the client."
    )
