"""End users on the Management API: their own user_metadata, never app_metadata."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container
from tests.integration.auth.conftest import events_of, login_body, sign_up
from tests.support.tokens import claims, signed_with
from tests.support.users import PASSWORD

MANAGEMENT = "http://metaledger.test/api/v2/"
SELF_SERVICE = "openid read:current_user update:current_user_metadata"
SUBJECT_MISMATCH = "User to be acted on does not match subject in bearer token."


def user_token(client: httpx.Client, email: str, scope: str = SELF_SERVICE) -> str:
    body = {**login_body(email), "audience": MANAGEMENT, "scope": scope}
    response = client.post("/oauth/token", json=body)
    assert response.status_code == 200, response.text
    access_token: str = response.json()["access_token"]
    return access_token


def as_user(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@pytest.fixture
def me(anonymous: httpx.Client, http: httpx.Client) -> str:
    user_id = sign_up(anonymous, "me@example.com", user_metadata={"theme": "dark"})
    http.patch(f"/api/v2/users/{user_id}", json={"app_metadata": {"plan": "free"}})
    return user_id


@pytest.fixture
def other(anonymous: httpx.Client) -> str:
    return sign_up(anonymous, "other@example.com")


@pytest.fixture
def mine(anonymous: httpx.Client, me: str) -> dict[str, str]:
    """Headers with my own end-user token."""
    return as_user(user_token(anonymous, "me@example.com"))


def assert_forbidden(response: httpx.Response, message: str) -> None:
    assert response.status_code == 403, response.text
    body: dict[str, Any] = response.json()
    assert body["errorCode"] == "insufficient_scope"
    assert body["message"] == message


def test_a_user_reads_their_own_profile(
    anonymous: httpx.Client, me: str, mine: dict[str, str]
) -> None:
    response = anonymous.get(f"/api/v2/users/{me}", headers=mine)
    assert response.status_code == 200, response.text
    assert response.json()["app_metadata"] == {"plan": "free"}


def test_a_user_cannot_read_another_user(
    anonymous: httpx.Client, other: str, mine: dict[str, str]
) -> None:
    assert_forbidden(anonymous.get(f"/api/v2/users/{other}", headers=mine), SUBJECT_MISMATCH)


def test_a_user_patches_their_own_user_metadata(
    anonymous: httpx.Client, container: Container, me: str, mine: dict[str, str]
) -> None:
    response = anonymous.patch(
        f"/api/v2/users/{me}", json={"user_metadata": {"theme": "light"}}, headers=mine
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_metadata"] == {"theme": "light"}
    patched = events_of(container, me)[-1]
    assert type(patched).__name__ == "UserMetadataPatched"
    assert (patched.actor["kind"], patched.actor["id"]) == ("user", me)
    assert patched.changes == {"theme": {"old": "dark", "new": "light"}}


def test_a_user_cannot_patch_their_app_metadata(
    anonymous: httpx.Client, container: Container, me: str, mine: dict[str, str]
) -> None:
    before = len(events_of(container, me))
    response = anonymous.patch(
        f"/api/v2/users/{me}", json={"app_metadata": {"plan": "enterprise"}}, headers=mine
    )
    assert_forbidden(
        response,
        "Some fields cannot be updated with the permissions granted by the bearer token "
        "scopes: app_metadata.",
    )
    assert len(events_of(container, me)) == before
    assert container.profiles.get_user(me).app_metadata == {"plan": "free"}


def test_user_metadata_sent_with_app_metadata_is_not_written_either(
    anonymous: httpx.Client, container: Container, me: str, mine: dict[str, str]
) -> None:
    body = {"user_metadata": {"theme": "light"}, "app_metadata": {"plan": "pro"}}
    response = anonymous.patch(f"/api/v2/users/{me}", json=body, headers=mine)
    assert response.status_code == 403
    assert container.profiles.get_user(me).user_metadata == {"theme": "dark"}


@pytest.mark.parametrize(
    "body",
    [
        {"blocked": False},
        {"email_verified": True},
        {"name": "Mallory"},
        {"email": "new@example.com"},
        {"password": "Another-pass-9"},
        {"connection": "Username-Password-Authentication"},
    ],
)
def test_a_user_cannot_patch_root_attributes(
    anonymous: httpx.Client,
    container: Container,
    me: str,
    mine: dict[str, str],
    body: dict[str, object],
) -> None:
    before = len(events_of(container, me))
    response = anonymous.patch(f"/api/v2/users/{me}", json=body, headers=mine)
    assert response.status_code == 403, response.text
    assert next(iter(body)) in response.json()["message"]
    assert len(events_of(container, me)) == before


def test_a_user_cannot_patch_another_user(
    anonymous: httpx.Client, container: Container, other: str, mine: dict[str, str]
) -> None:
    response = anonymous.patch(
        f"/api/v2/users/{other}", json={"user_metadata": {"theme": "mine"}}, headers=mine
    )
    assert_forbidden(response, SUBJECT_MISMATCH)
    assert container.profiles.get_user(other).user_metadata == {}


def test_a_read_only_user_token_cannot_patch(anonymous: httpx.Client, me: str) -> None:
    headers = as_user(user_token(anonymous, "me@example.com", "read:current_user"))
    response = anonymous.patch(
        f"/api/v2/users/{me}", json={"user_metadata": {"theme": "x"}}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["message"].startswith("Insufficient scope")


def test_a_user_token_cannot_delete_the_user(
    anonymous: httpx.Client, me: str, mine: dict[str, str]
) -> None:
    assert anonymous.delete(f"/api/v2/users/{me}", headers=mine).status_code == 403


def test_a_user_token_cannot_create_users(anonymous: httpx.Client, mine: dict[str, str]) -> None:
    body = {
        "connection": "Username-Password-Authentication",
        "email": "new@example.com",
        "password": PASSWORD,
    }
    assert anonymous.post("/api/v2/users", json=body, headers=mine).status_code == 403


def test_a_machine_token_whose_sub_names_a_user_gets_no_self_service(
    anonymous: httpx.Client, container: Container, me: str
) -> None:
    forged_sub = signed_with(
        container.signing_key,
        claims(
            "http://metaledger.test/",
            MANAGEMENT,
            sub=me,
            gty="client-credentials",
            scope="read:current_user update:current_user_metadata",
        ),
    )
    headers = as_user(forged_sub)
    assert_forbidden(anonymous.get(f"/api/v2/users/{me}", headers=headers), SUBJECT_MISMATCH)
    response = anonymous.patch(
        f"/api/v2/users/{me}", json={"user_metadata": {"theme": "x"}}, headers=headers
    )
    assert_forbidden(response, SUBJECT_MISMATCH)
