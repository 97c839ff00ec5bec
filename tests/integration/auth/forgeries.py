"""Tokens for one user that are each wrong in one way: expired, for another audience or
issuer, signed by another key, unsigned, HMAC-keyed with the public key, or without expiry."""

from __future__ import annotations

import time
from collections.abc import Callable

from metaledger.api.auth.keys import SigningKey
from tests.support.tokens import (
    claims,
    hs256_with_public_key,
    signed_with,
    signed_with_a_stranger_key,
    unsigned,
)

ISSUER = "http://metaledger.test/"
AUDIENCES = {
    "management": "http://metaledger.test/api/v2/",
    "userinfo": "http://metaledger.test/userinfo",
}
Forge = Callable[[SigningKey, str, str], str]


def user_claims(issuer: str, audience: str, sub: str, **overrides: object) -> dict[str, object]:
    return claims(
        issuer,
        audience,
        sub=sub,
        scope="openid read:current_user",
        gty="password",
        azp="spa-app",
        **overrides,
    )


def genuine(key: SigningKey, audience: str, sub: str) -> str:
    return signed_with(key, user_claims(ISSUER, audience, sub))


FORGERIES: dict[str, Forge] = {
    "expired": lambda key, audience, sub: signed_with(
        key,
        user_claims(ISSUER, audience, sub, iat=int(time.time()) - 700, exp=int(time.time()) - 60),
    ),
    "wrong audience": lambda key, _, sub: signed_with(
        key, user_claims(ISSUER, "https://elsewhere.example/", sub)
    ),
    "wrong issuer": lambda key, audience, sub: signed_with(
        key, user_claims("https://evil.example/", audience, sub)
    ),
    "wrong key": lambda _, audience, sub: signed_with_a_stranger_key(
        user_claims(ISSUER, audience, sub)
    ),
    "alg none": lambda _, audience, sub: unsigned(user_claims(ISSUER, audience, sub)),
    "HS256 keyed with the public key": lambda key, audience, sub: hs256_with_public_key(
        key, user_claims(ISSUER, audience, sub)
    ),
    "no expiry": lambda key, audience, sub: signed_with(
        key, {k: v for k, v in user_claims(ISSUER, audience, sub).items() if k != "exp"}
    ),
}
