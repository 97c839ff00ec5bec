"""GET /userinfo: standard claims by scope, custom claims copied from metadata."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from metaledger.api.bootstrap import Container
from tests.integration.auth.conftest import (
    BUCKET_CLAIM,
    HOBBY_CLAIM,
    PLAN_CLAIM,
    SPA_CLIENT_ID,
    login_body,
    sign_up,
)

MANAGEMENT = "http://metaledger.test/api/v2/"


def login(client: httpx.Client, scope: str, **fields: object) -> dict[str, Any]:
    body = {**login_body("kai@example.com"), "scope": scope, **fields}
    response = client.post("/oauth/token", json=body)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def userinfo(client: httpx.Client, access_token: str) -> httpx.Response:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture
def user_id(anonymous: httpx.Client, http: httpx.Client) -> str:
    user_id = sign_up(
        anonymous, "kai@example.com", given_name="Kai", user_metadata={"hobby": "kites"}
    )
    patched = http.patch(f"/api/v2/users/{user_id}", json={"app_metadata": {"plan": "pro"}})
    assert patched.status_code == 200, patched.text
    return user_id


def test_userinfo_gives_the_claims_the_scopes_grant(anonymous: httpx.Client, user_id: str) -> None:
    tokens = login(anonymous, "openid email")
    claims = userinfo(anonymous, tokens["access_token"]).json()
    assert claims["sub"] == user_id
    assert claims["email"] == "kai@example.com"
    assert claims["email_verified"] is False
    assert "given_name" not in claims


def test_profile_scope_adds_the_profile_claims(anonymous: httpx.Client, user_id: str) -> None:
    claims = userinfo(anonymous, login(anonymous, "openid profile")["access_token"]).json()
    assert claims["given_name"] == "Kai"
    assert claims["nickname"] == "kai"
    assert claims["updated_at"].endswith("Z")
    assert "email" not in claims


def test_userinfo_copies_the_configured_metadata_claims(
    anonymous: httpx.Client, user_id: str
) -> None:
    claims = userinfo(anonymous, login(anonymous, "openid")["access_token"]).json()
    assert claims == {
        "sub": user_id,
        HOBBY_CLAIM: "kites",
        PLAN_CLAIM: "pro",
        BUCKET_CLAIM: {"hobby": "kites"},
    }


def test_the_id_token_carries_the_same_claims_as_userinfo(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    tokens = login(anonymous, "openid profile email")
    shown = userinfo(anonymous, tokens["access_token"]).json()
    id_claims = jwt.decode(
        tokens["id_token"],
        container.signing_key.public_key,
        algorithms=["RS256"],
        audience=SPA_CLIENT_ID,
    )
    for registered in ("iss", "aud", "azp", "at_hash", "iat", "exp"):
        id_claims.pop(registered)
    assert id_claims == shown
    assert id_claims[BUCKET_CLAIM] == {"hobby": "kites"}


def test_userinfo_shows_metadata_changed_after_login(
    anonymous: httpx.Client, http: httpx.Client, user_id: str
) -> None:
    access_token = login(anonymous, "openid")["access_token"]
    http.patch(f"/api/v2/users/{user_id}", json={"user_metadata": {"hobby": "sailing"}})
    assert userinfo(anonymous, access_token).json()[HOBBY_CLAIM] == "sailing"


def test_a_management_token_with_openid_also_works_at_userinfo(
    anonymous: httpx.Client, user_id: str
) -> None:
    tokens = login(anonymous, "openid read:current_user", audience=MANAGEMENT)
    assert userinfo(anonymous, tokens["access_token"]).status_code == 200


def test_a_management_token_without_openid_is_refused(
    anonymous: httpx.Client, user_id: str
) -> None:
    tokens = login(anonymous, "read:current_user", audience=MANAGEMENT)
    response = userinfo(anonymous, tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_token_without_openid_is_insufficient(anonymous: httpx.Client, user_id: str) -> None:
    response = userinfo(anonymous, login(anonymous, "email")["access_token"])
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_a_machine_token_is_refused(anonymous: httpx.Client, token: str) -> None:
    assert userinfo(anonymous, token).status_code == 401


def test_the_token_of_a_deleted_user_is_refused(
    anonymous: httpx.Client, http: httpx.Client, user_id: str
) -> None:
    access_token = login(anonymous, "openid")["access_token"]
    assert http.delete(f"/api/v2/users/{user_id}").status_code == 204
    response = userinfo(anonymous, access_token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Token abc", "Bearer not-a-jwt"])
def test_a_request_without_a_bearer_token_is_unauthorized(
    anonymous: httpx.Client, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = anonymous.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
