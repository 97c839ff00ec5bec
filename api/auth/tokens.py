"""RS256 tokens: access tokens for the Management API and /userinfo, and OIDC ID tokens.

Tokens are issued and checked here; with an external issuer configured, its tokens are
accepted too (checked against its own keys and audience).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from metaledger.api.auth.external_issuer import REQUIRED_CLAIMS, ExternalIssuer
from metaledger.api.auth.keys import SigningKey

VERIFIED_TOKENS_KEPT = 10_000
CLIENT_CREDENTIALS_GRANT = "client-credentials"
MAX_SHOWN_CLAIM = 200
# The access token's claim carrying what tenant code added to the ID token, for /userinfo.
USERINFO_CLAIMS = "https://metaledger/userinfo"


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
    # Claims the login's Rules and Actions added to the ID token, which /userinfo shows too.
    userinfo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_client(self) -> bool:
        return self.grant == CLIENT_CREDENTIALS_GRANT

    def has_any(self, *scopes: str) -> bool:
        return not self.scopes.isdisjoint(scopes)


class TokenService:
    def __init__(
        self,
        key: SigningKey,
        issuer: str,
        lifetime_seconds: int,
        external: ExternalIssuer | None = None,
    ) -> None:
        self.key = key
        self.issuer = issuer
        self.lifetime_seconds = lifetime_seconds
        self.external = external
        # Tokens already verified, until they expire: a client reuses its token for many
        # requests, and an RSA signature check costs more than the rest of a read.
        self._verified: dict[tuple[str, str, bool], tuple[Principal, float]] = {}

    @property
    def userinfo_audience(self) -> str:
        return f"{self.issuer}userinfo"

    def issue(
        self,
        *,
        sub: str,
        audience: str | list[str],
        scopes: list[str],
        client_id: str,
        grant: str,
        claims: dict[str, Any] | None = None,
    ) -> str:
        return self._sign(
            **(claims or {}),
            sub=sub,
            audience=audience,
            azp=client_id,
            scope=" ".join(scopes),
            gty=grant,
        )

    def issue_id_token(self, claims: dict[str, Any], client_id: str) -> str:
        """An OIDC ID token for `client_id`; `claims` start with the user's `sub`."""
        return self._sign(**claims, audience=client_id)

    def _sign(self, *, sub: str, audience: str | list[str], **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + self.lifetime_seconds,
            **claims,
        }
        return jwt.encode(
            payload, self.key.private_key, algorithm="RS256", headers={"kid": self.key.kid}
        )

    def verify(self, token: str, audience: str, *, allow_external: bool = True) -> Principal:
        """Who `token` speaks for, if it is valid for `audience` (or, when `allow_external`,
        was issued by the external issuer for its audience)."""
        key = (token, audience, allow_external)
        known = self._verified.get(key)
        if known is not None and known[1] > time.time():
            return known[0]
        try:
            claims = self._decode(token, audience, allow_external)
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError(
                "Expired token received for JSON Web Token validation"
            ) from None
        except jwt.InvalidSignatureError:
            raise InvalidTokenError(
                "Invalid signature received for JSON Web Token validation."
            ) from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError(f"Bad audience: {_claimed(token, 'aud')}") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError(f"Bad issuer: {_claimed(token, 'iss')}") from None
        except jwt.ImmatureSignatureError:
            raise InvalidTokenError("The token is not valid yet.") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidTokenError(f"Missing required claim: {error.claim}") from None
        except jwt.PyJWTError:
            raise InvalidTokenError("Invalid token.") from None
        scope = claims.get("scope", "")
        scopes = set(scope.split()) if isinstance(scope, str) else set()
        # Identity providers with role-based access put API permissions in their own claim.
        permissions = claims.get("permissions", [])
        if isinstance(permissions, list):
            scopes.update(p for p in permissions if isinstance(p, str))
        principal = Principal(
            sub=str(claims["sub"]),
            scopes=frozenset(scopes),
            client_id=claims.get("azp"),
            grant=claims.get("gty"),
            userinfo=_userinfo_claims(claims.get(USERINFO_CLAIMS)),
        )
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[key] = (principal, float(claims["exp"]))
        return principal

    def _decode(self, token: str, audience: str, allow_external: bool) -> dict[str, Any]:
        external = self.external if allow_external else None
        if external is not None and _claimed_issuer(token) == external.issuer:
            return external.decode(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            self.key.verifying_key(jwt.get_unverified_header(token).get("kid")),
            algorithms=["RS256"],
            audience=audience,
            issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        return claims


def _userinfo_claims(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _claimed(token: str, claim: str) -> str:
    """What the token claims for `claim`, as the refusal names it (the token's own words, cut
    short: a refusal tells the caller what is wrong with its token and nothing else)."""
    value = jwt.decode(token, options={"verify_signature": False}).get(claim)
    shown = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return shown[:MAX_SHOWN_CLAIM]


def _claimed_issuer(token: str) -> object:
    """The `iss` a token claims, unverified: it only picks which keys will verify it."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return claims.get("iss")
