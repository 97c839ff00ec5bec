"""RS256 access tokens for the Management API audience, issued and checked here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from api.security.keys import SigningKey

CLIENT_CREDENTIALS_GRANT = "client-credentials"


class InvalidTokenError(Exception):
    """The bearer token is missing, malformed, expired, for another audience or forged."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    sub: str
    scopes: frozenset[str]
    client_id: str | None
    grant: str | None

    @property
    def is_client(self) -> bool:
        return self.grant == CLIENT_CREDENTIALS_GRANT

    def has_any(self, *scopes: str) -> bool:
        return not self.scopes.isdisjoint(scopes)


class TokenService:
    def __init__(self, key: SigningKey, issuer: str, lifetime_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.lifetime_seconds = lifetime_seconds

    def issue(
        self,
        *,
        sub: str,
        audience: str,
        scopes: list[str],
        client_id: str,
        grant: str,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + self.lifetime_seconds,
            "azp": client_id,
            "scope": " ".join(scopes),
            "gty": grant,
            **(extra or {}),
        }
        return jwt.encode(
            claims, self.key.private_key, algorithm="RS256", headers={"kid": self.key.kid}
        )

    def verify(self, token: str, audience: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.key.public_key,
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError(
                "Expired token received for JSON Web Token validation"
            ) from None
        except jwt.InvalidSignatureError:
            raise InvalidTokenError(
                "Invalid signature received for JSON Web Token validation."
            ) from None
        except jwt.PyJWTError:
            raise InvalidTokenError("Invalid token.") from None
        scope = claims.get("scope", "")
        return Principal(
            sub=str(claims["sub"]),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            client_id=claims.get("azp"),
            grant=claims.get("gty"),
        )
