"""Authentication API: `GET /userinfo`, the OIDC claims of the user behind an access token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from metaledger.api.auth.claims import user_claims
from metaledger.api.auth.tokens import InvalidTokenError
from metaledger.api.http.deps import ContainerDep
from metaledger.api.http.errors import OAuthError
from metaledger.api.http.responses import json_response
from metaledger.domain.errors import UserNotFound

router = APIRouter(tags=["authentication"])


def _invalid_token(description: str) -> OAuthError:
    return OAuthError(
        401,
        "invalid_token",
        description,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


@router.get("/userinfo", summary="Claims about the user behind an access token")
def userinfo(request: Request, container: ContainerDep) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid_token("Missing or malformed bearer token")
    try:
        principal = container.tokens.verify(
            token.strip(), container.tokens.userinfo_audience, allow_external=False
        )
    except InvalidTokenError as error:
        raise _invalid_token(error.message) from None
    if "openid" not in principal.scopes:
        raise OAuthError(403, "insufficient_scope", "The access token was not granted openid.")
    try:
        user = container.profiles.get_user(principal.sub)
    except UserNotFound:
        raise _invalid_token("The user of this token does not exist.") from None
    claims = user_claims(user, principal.scopes, container.settings.claims)
    return json_response({**claims, **principal.userinfo})
