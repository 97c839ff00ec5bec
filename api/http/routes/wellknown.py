"""OpenID discovery and the public signing keys."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from metaledger.api.auth.claims import OIDC_SCOPES
from metaledger.api.auth.clients import GRANT_TYPES
from metaledger.api.auth.user_tokens import USER_SCOPES
from metaledger.api.http.deps import ContainerDep
from metaledger.api.http.responses import json_response

router = APIRouter(prefix="/.well-known", tags=["discovery"])


@router.get("/jwks.json", summary="Public keys that verify issued tokens")
def jwks(container: ContainerDep) -> Response:
    return json_response(container.signing_key.jwks())


@router.get("/openid-configuration", summary="OpenID Connect discovery document")
def openid_configuration(container: ContainerDep) -> Response:
    issuer = container.settings.issuer
    return json_response(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}authorize",
            "token_endpoint": f"{issuer}oauth/token",
            "end_session_endpoint": f"{issuer}v2/logout",
            "jwks_uri": f"{issuer}.well-known/jwks.json",
            "userinfo_endpoint": f"{issuer}userinfo",
            "grant_types_supported": sorted(GRANT_TYPES),
            "scopes_supported": [*OIDC_SCOPES, *USER_SCOPES],
            "response_types_supported": ["code", "token", "id_token", "token id_token"],
            "response_modes_supported": ["query", "fragment", "form_post", "web_message"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "client_secret_basic",
                "none",
            ],
        }
    )
