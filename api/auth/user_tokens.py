"""The tokens an end user gets from a password login.

An access token for the Management API (when that audience is asked for) carrying the
`…:current_user…` scopes asked for, valid at `/userinfo` too when `openid` is granted; and an
OIDC ID token for the application when `openid` is granted.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from metaledger.api.auth.claims import OIDC_SCOPES, ClaimMapping, user_claims
from metaledger.api.auth.tokens import USERINFO_CLAIMS, TokenService
from metaledger.api.sandbox.pipeline import Claims
from metaledger.domain.user import User

PASSWORD_GRANT = "password"
USER_SCOPES = (
    "read:current_user",
    "update:current_user_metadata",
    "create:current_user_metadata",
    "delete:current_user_metadata",
)
DEFAULT_SCOPE = "openid profile email"


def user_scopes(requested: object, management: bool) -> list[str]:
    """The scopes asked for that a user may hold (OIDC ones, and the Management API's
    current-user ones when that audience was asked for)."""
    asked = set((requested if isinstance(requested, str) else DEFAULT_SCOPE).split())
    allowed = OIDC_SCOPES + (USER_SCOPES if management else ())
    return [scope for scope in allowed if scope in asked]


def user_token_response(
    tokens: TokenService,
    user: User,
    client_id: str,
    scopes: list[str],
    api_audience: str | None,
    claims: tuple[ClaimMapping, ...],
    added: Claims | None = None,
    *,
    grant: str = PASSWORD_GRANT,
    nonce: str | None = None,
) -> dict[str, Any]:
    """`added`: the claims the login's Rules and Actions set; `nonce`: the one the browser's
    authorization request sent, which its ID token must carry back."""
    added = added or Claims()
    access_claims = dict(added.access_token)
    if added.id_token:
        access_claims[USERINFO_CLAIMS] = added.id_token
    audiences = [api_audience] if api_audience else []
    if "openid" in scopes or not audiences:
        audiences.append(tokens.userinfo_audience)
    body: dict[str, Any] = {
        "access_token": tokens.issue(
            sub=user.user_id,
            audience=audiences[0] if len(audiences) == 1 else audiences,
            scopes=scopes,
            client_id=client_id,
            grant=grant,
            claims=access_claims,
        ),
        "token_type": "Bearer",
        "expires_in": tokens.lifetime_seconds,
        "scope": " ".join(scopes),
    }
    if "openid" in scopes:
        body["id_token"] = id_token(
            tokens, user, client_id, scopes, claims, added, nonce, body["access_token"]
        )
    return body


def id_token(
    tokens: TokenService,
    user: User,
    client_id: str,
    scopes: list[str],
    claims: tuple[ClaimMapping, ...],
    added: Claims,
    nonce: str | None,
    access_token: str | None,
) -> str:
    """An ID token; `at_hash` binds it to the access token issued with it, which browser SDKs
    check."""
    extra: dict[str, Any] = {"azp": client_id}
    if nonce is not None:
        extra["nonce"] = nonce
    if access_token is not None:
        extra["at_hash"] = at_hash(access_token)
    return tokens.issue_id_token(
        {**user_claims(user, frozenset(scopes), claims), **added.id_token, **extra}, client_id
    )


def at_hash(access_token: str) -> str:
    """OIDC's access token hash for RS256: the left half of its SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
