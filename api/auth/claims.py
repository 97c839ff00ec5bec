"""The claims about a user in `/userinfo` and the ID token.

Standard OIDC claims follow the granted scopes (`profile`, `email`, `phone`). Custom claims are
configured (`METALEDGER_CLAIMS`, a JSON object of claim name to source) and copied from the
user's metadata: the declarative form of Auth0's "add user_metadata to the ID token" rule. A
source is `user_metadata`, `app_metadata` (the whole bucket) or `<bucket>.<top-level key>`.
A claim may have any name but the reserved ones below (as on Auth0, which accepts names without
a namespace since 2022): `{"user_metadata": "user_metadata"}` puts the whole bucket in the ID
token and `/userinfo` under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.user import User

# Standard claim -> attribute of the Auth0 user object, per scope.
SCOPED_CLAIMS: dict[str, tuple[tuple[str, str], ...]] = {
    "profile": (
        ("name", "name"),
        ("nickname", "nickname"),
        ("given_name", "given_name"),
        ("family_name", "family_name"),
        ("preferred_username", "username"),
        ("picture", "picture"),
        ("updated_at", "updated_at"),
    ),
    "email": (("email", "email"), ("email_verified", "email_verified")),
    "phone": (("phone_number", "phone_number"), ("phone_number_verified", "phone_verified")),
}
OIDC_SCOPES = ("openid", *SCOPED_CLAIMS)
# Names the token itself, its validation or the session carry (OIDC and JWT registered claims,
# and those Auth0 restricts): neither configuration nor the tenant's code may set them.
OIDC_RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "azp",
        "scope",
        "gty",
        "permissions",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "at_hash",
        "c_hash",
        "sid",
        "cnf",
        "act",
        "may_act",
        "org_id",
        "org_name",
    }
)


class ClaimsConfigError(ValueError):
    """The claims configuration cannot be used; the service refuses to start."""


@dataclass(frozen=True)
class ClaimMapping:
    claim: str
    bucket: str
    key: str | None  # None copies the whole bucket

    def value(self, user: User) -> Any:
        bucket = user.user_metadata if self.bucket == USER_METADATA else user.app_metadata
        return bucket if self.key is None else bucket.get(self.key)


def parse_claims(text: str | None) -> tuple[ClaimMapping, ...]:
    if not text:
        return ()
    try:
        entries = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ClaimsConfigError(f"METALEDGER_CLAIMS is not JSON: {error}") from None
    if not isinstance(entries, dict):
        raise ClaimsConfigError("METALEDGER_CLAIMS must be a JSON object of claim to source")
    return tuple(claim_mapping(claim, source) for claim, source in entries.items())


def claim_mapping(claim: str, source: Any) -> ClaimMapping:
    if claim in OIDC_RESERVED_CLAIMS:
        raise ClaimsConfigError(
            f"claim {claim!r} is reserved by OpenID Connect and cannot be configured "
            f"(reserved: {', '.join(sorted(OIDC_RESERVED_CLAIMS))})"
        )
    if not claim.strip():
        raise ClaimsConfigError("a claim name cannot be empty")
    if not isinstance(source, str):
        raise ClaimsConfigError(f"claim {claim!r}: the source must be a string")
    bucket, dot, key = source.partition(".")
    if bucket not in (USER_METADATA, APP_METADATA) or (dot and not key) or "." in key:
        raise ClaimsConfigError(
            f"claim {claim!r}: the source must be user_metadata[.key] or app_metadata[.key]"
        )
    return ClaimMapping(claim, bucket, key or None)


def user_claims(
    user: User, scopes: frozenset[str], mappings: tuple[ClaimMapping, ...]
) -> dict[str, Any]:
    """`sub`, the standard claims the scopes grant, and the configured custom claims."""
    profile = user.as_auth0()
    claims: dict[str, Any] = {"sub": user.user_id}
    for scope, names in SCOPED_CLAIMS.items():
        if scope in scopes:
            claims.update(
                {claim: profile[attribute] for claim, attribute in names if attribute in profile}
            )
    for mapping in mappings:
        value = mapping.value(user)
        if value is not None:
            claims[mapping.claim] = value
    return claims
