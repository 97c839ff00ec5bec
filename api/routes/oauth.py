"""Authentication API: `POST /oauth/token`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.body import decode, read_limited
from api.deps import ContainerDep
from api.errors import OAuthError
from api.responses import json_response
from api.security.clients import Client
from api.security.tokens import CLIENT_CREDENTIALS_GRANT

router = APIRouter(tags=["authentication"])

TOKEN_FORM_LIMIT = 64 * 1024


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return client_id, secret


def authenticate_client(container: ContainerDep, request: Request, form: dict[str, Any]) -> Client:
    basic_id, basic_secret = _basic_credentials(request)
    client_id = form.get("client_id") or basic_id
    secret = form.get("client_secret") or basic_secret
    client = container.clients.get(client_id if isinstance(client_id, str) else None)
    if client is None or not client.secret_matches(secret if isinstance(secret, str) else None):
        raise OAuthError(401, "access_denied", "Unauthorized")
    return client


def granted_scopes(requested: object, allowed: tuple[str, ...]) -> list[str]:
    """All the client's scopes, or those of them that were asked for."""
    if not isinstance(requested, str) or not requested.strip():
        return list(allowed)
    asked = set(requested.split())
    return [scope for scope in allowed if scope in asked]


@router.post("/oauth/token", summary="Get an access token")
async def token(request: Request, container: ContainerDep) -> Response:
    form = decode(
        await read_limited(request, TOKEN_FORM_LIMIT), request.headers.get("content-type", "")
    )
    grant_type = form.get("grant_type")
    if grant_type != "client_credentials":
        raise OAuthError(
            403, "unauthorized_client", f"Grant type '{grant_type}' not allowed for the client."
        )
    client = authenticate_client(container, request, form)
    if "client_credentials" not in client.grants:
        raise OAuthError(
            403,
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.",
        )
    audience = form.get("audience") or container.settings.management_audience
    if audience != container.settings.management_audience:
        raise OAuthError(403, "access_denied", f"Service not enabled within domain: {audience}")
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
