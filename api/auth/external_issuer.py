"""An existing identity provider whose RS256 tokens the Management API also accepts.

Configured by `METALEDGER_EXTERNAL_ISSUER`, `METALEDGER_EXTERNAL_JWKS_URL` and
`METALEDGER_EXTERNAL_AUDIENCE`. Keys are fetched from the JWKS URL and cached; a token whose
`kid` is unknown makes one refetch (key rotation), at most every 30 seconds.
"""

from __future__ import annotations

from typing import Any

import jwt

REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]


class ExternalIssuer:
    def __init__(self, issuer: str, jwks_url: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims; raises `jwt.PyJWTError` for any token it does not vouch for."""
        key = self._keys.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        return claims


def external_issuer(
    issuer: str | None, jwks_url: str | None, audience: str | None
) -> ExternalIssuer | None:
    if not (issuer or jwks_url or audience):
        return None
    if not (issuer and jwks_url and audience):
        raise ValueError(
            "an external issuer needs METALEDGER_EXTERNAL_ISSUER, METALEDGER_EXTERNAL_JWKS_URL "
            "and METALEDGER_EXTERNAL_AUDIENCE together"
        )
    return ExternalIssuer(issuer, jwks_url, audience)
