"""Forged and mis-issued tokens are refused at the Management API and at /userinfo."""

from __future__ import annotations

import httpx
import pytest

from metaledger.api.bootstrap import Container
from tests.integration.auth.conftest import sign_up
from tests.integration.auth.forgeries import AUDIENCES, FORGERIES, genuine


@pytest.fixture
def user_id(anonymous: httpx.Client) -> str:
    return sign_up(anonymous, "tok@example.com")


def call(client: httpx.Client, endpoint: str, user_id: str, token: str) -> httpx.Response:
    path = f"/api/v2/users/{user_id}" if endpoint == "management" else "/userinfo"
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("endpoint", list(AUDIENCES))
def test_a_genuine_token_is_accepted(
    anonymous: httpx.Client, container: Container, user_id: str, endpoint: str
) -> None:
    token = genuine(container.signing_key, AUDIENCES[endpoint], user_id)
    assert call(anonymous, endpoint, user_id, token).status_code == 200


@pytest.mark.parametrize("endpoint", list(AUDIENCES))
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_bad_token_is_unauthorized(
    anonymous: httpx.Client, container: Container, user_id: str, endpoint: str, forgery: str
) -> None:
    token = FORGERIES[forgery](container.signing_key, AUDIENCES[endpoint], user_id)
    response = call(anonymous, endpoint, user_id, token)
    assert response.status_code == 401, response.text
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize(
    ("forgery", "endpoint", "field", "text"),
    [
        (
            "expired",
            "management",
            "message",
            "Expired token received for JSON Web Token validation",
        ),
        (
            "wrong key",
            "userinfo",
            "error_description",
            "Invalid signature received for JSON Web Token validation.",
        ),
    ],
)
def test_a_refusal_says_what_is_wrong_with_the_token(
    anonymous: httpx.Client,
    container: Container,
    user_id: str,
    forgery: str,
    endpoint: str,
    field: str,
    text: str,
) -> None:
    token = FORGERIES[forgery](container.signing_key, AUDIENCES[endpoint], user_id)
    assert call(anonymous, endpoint, user_id, token).json()[field] == text
