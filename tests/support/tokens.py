"""Forged and mis-issued tokens, for tests that prove they are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from metaledger.api.auth.keys import SigningKey


def claims(issuer: str, audience: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer,
        "sub": "attacker@clients",
        "aud": audience,
        "iat": now,
        "exp": now + 600,
        "scope": "read:users create:users update:users delete:users",
        "gty": "client-credentials",
        "azp": "attacker",
    }
    base.update(overrides)
    return base


def signed_with(key: SigningKey, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def signed_with_a_stranger_key(payload: dict[str, Any]) -> str:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, stranger, algorithm="RS256")


def unsigned(payload: dict[str, Any]) -> str:
    """`alg: none`: a token with no signature at all."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def hs256_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HMAC keyed with the server's public key."""
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=")
        + b"."
        + base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
