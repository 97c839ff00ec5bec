"""Verified tokens are remembered until they expire, and only until then."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from metaledger.api.auth.keys import SigningKey
from metaledger.api.auth.tokens import InvalidTokenError, TokenService

AUDIENCE = "http://metaledger.test/api/v2/"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def issue(service: TokenService) -> str:
    return service.issue(
        sub="c@clients", audience=AUDIENCE, scopes=["read:users"], client_id="c", grant="g"
    )


def test_a_token_verified_once_verifies_again_without_a_signature_check(key: SigningKey) -> None:
    service = TokenService(key, "http://metaledger.test/", 600)
    token = issue(service)
    first = service.verify(token, AUDIENCE)
    service.key = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert service.verify(token, AUDIENCE) == first


def test_a_remembered_token_is_refused_once_it_expires(key: SigningKey) -> None:
    service = TokenService(key, "http://metaledger.test/", 1)
    token = issue(service)
    service.verify(token, AUDIENCE)
    time.sleep(2.1)
    with pytest.raises(InvalidTokenError, match="Expired"):
        service.verify(token, AUDIENCE)


def test_a_token_for_another_audience_is_not_taken_from_memory(key: SigningKey) -> None:
    service = TokenService(key, "http://metaledger.test/", 600)
    token = issue(service)
    service.verify(token, AUDIENCE)
    with pytest.raises(InvalidTokenError):
        service.verify(token, "http://elsewhere/api/v2/")
