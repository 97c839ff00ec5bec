"""POST /oauth/token with the password and password-realm grants, against the real server."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from metaledger.api.auth.clients import PASSWORD
from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.integration.auth.conftest import (
    BACKEND_CLIENT_ID,
    BACKEND_CLIENT_SECRET,
    HOBBY_CLAIM,
    MAX_ATTEMPTS,
    OTHER_CONNECTION,
    PASSWORD_TEXT,
    SPA_CLIENT_ID,
    events_of,
    login_body,
    sign_up,
)
from tests.support.users import create_user

MANAGEMENT = "http://metaledger.test/api/v2/"
USERINFO = "http://metaledger.test/userinfo"
IMPORTER = Actor(kind="client", id="importer", grant="client-credentials")


def token(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/oauth/token", json=body, headers=headers)


def claims_of(container: Container, encoded: str, audience: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        encoded, container.signing_key.public_key, algorithms=["RS256"], audience=audience
    )
    return decoded


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    description: str = body["error_description"]
    return description


def backend_login_body(email: str, **fields: object) -> dict[str, object]:
    """A login through the confidential application, which proves its secret."""
    secret = {"client_id": BACKEND_CLIENT_ID, "client_secret": BACKEND_CLIENT_SECRET}
    return {**login_body(email), **secret, **fields}


@pytest.fixture
def user_id(anonymous: httpx.Client) -> str:
    return sign_up(anonymous, "lin@example.com", user_metadata={"hobby": "chess"})


def test_login_returns_a_management_token_with_the_current_user_scopes(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    scope = "openid read:current_user update:current_user_metadata update:users"
    response = token(anonymous, login_body("lin@example.com", audience=MANAGEMENT, scope=scope))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid read:current_user update:current_user_metadata"
    claims = claims_of(container, body["access_token"], MANAGEMENT)
    assert claims["sub"] == user_id
    assert claims["aud"] == [MANAGEMENT, USERINFO]
    assert claims["azp"] == SPA_CLIENT_ID
    assert claims["gty"] == PASSWORD


def test_login_with_openid_returns_an_id_token_for_the_application(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    response = token(anonymous, login_body("lin@example.com", scope="openid profile email"))
    body = response.json()
    claims = claims_of(container, body["id_token"], SPA_CLIENT_ID)
    assert claims["sub"] == user_id
    assert claims["email"] == "lin@example.com"
    assert claims["email_verified"] is False
    assert claims["nickname"] == "lin"
    assert claims[HOBBY_CLAIM] == "chess"


def test_login_without_openid_returns_no_id_token(anonymous: httpx.Client, user_id: str) -> None:
    response = token(
        anonymous, login_body("lin@example.com", audience=MANAGEMENT, scope="read:current_user")
    )
    assert response.status_code == 200, response.text
    assert "id_token" not in response.json()


def test_login_without_audience_gives_a_userinfo_only_token(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    response = token(anonymous, login_body("lin@example.com", scope="openid read:current_user"))
    body = response.json()
    assert body["scope"] == "openid"
    assert claims_of(container, body["access_token"], USERINFO)["aud"] == USERINFO


def test_password_grant_logs_in_to_the_default_directory(
    anonymous: httpx.Client, user_id: str
) -> None:
    body = login_body("lin@example.com", grant_type=PASSWORD)
    del body["realm"]
    assert token(anonymous, body).status_code == 200


def test_each_login_is_an_event_that_updates_last_login_ip_and_count(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    before = time.time()
    for _ in range(2):
        assert token(anonymous, login_body("lin@example.com")).status_code == 200
    logins = [e for e in events_of(container, user_id) if type(e).__name__ == "UserLoggedIn"]
    assert len(logins) == 2
    assert logins[-1].actor["kind"] == "user"
    assert logins[-1].actor["id"] == user_id
    assert logins[-1].client_id == SPA_CLIENT_ID
    shown = container.profiles.get_user(user_id).as_auth0()
    assert shown["logins_count"] == 2
    assert shown["last_ip"] == "127.0.0.1"
    assert time.strptime(shown["last_login"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert logins[-1].timestamp.timestamp() >= before


def test_login_email_is_case_insensitive(anonymous: httpx.Client, user_id: str) -> None:
    assert token(anonymous, login_body("LIN@Example.COM")).status_code == 200


def test_wrong_password_is_invalid_grant(anonymous: httpx.Client, user_id: str) -> None:
    response = token(anonymous, login_body("lin@example.com", password="Wrong-horse-9"))
    assert assert_oauth_error(response, 403, "invalid_grant") == "Wrong email or password."


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
    anonymous: httpx.Client,
) -> None:
    response = token(anonymous, login_body("ghost@example.com"))
    assert assert_oauth_error(response, 403, "invalid_grant") == "Wrong email or password."


def test_user_created_without_a_password_cannot_log_in(
    container: Container, anonymous: httpx.Client
) -> None:
    # The management API now refuses such a create; users it took before still exist.
    create_user(container.profiles, IMPORTER, {"email": "nopass@example.com"})
    response = token(anonymous, login_body("nopass@example.com", password=""))
    assert_oauth_error(response, 400, "invalid_request")
    response = token(anonymous, login_body("nopass@example.com"))
    assert_oauth_error(response, 403, "invalid_grant")


def test_login_of_a_user_in_another_connection_fails(anonymous: httpx.Client, user_id: str) -> None:
    body = backend_login_body("lin@example.com", realm=OTHER_CONNECTION)
    assert_oauth_error(token(anonymous, body), 403, "invalid_grant")


@pytest.fixture
def blocked(http: httpx.Client, user_id: str) -> None:
    """An administrator blocked the user."""
    assert http.patch(f"/api/v2/users/{user_id}", json={"blocked": True}).status_code == 200


@pytest.mark.usefixtures("blocked")
def test_blocked_user_cannot_log_in(anonymous: httpx.Client) -> None:
    response = token(anonymous, login_body("lin@example.com"))
    assert assert_oauth_error(response, 401, "unauthorized") == "user is blocked"


@pytest.mark.usefixtures("blocked")
def test_blocked_user_with_a_wrong_password_learns_nothing_more(anonymous: httpx.Client) -> None:
    response = token(anonymous, login_body("lin@example.com", password="Wrong-horse-9"))
    assert_oauth_error(response, 403, "invalid_grant")


def test_client_without_the_grant_is_refused(anonymous: httpx.Client, user_id: str) -> None:
    body = backend_login_body("lin@example.com", grant_type=PASSWORD)
    description = assert_oauth_error(token(anonymous, body), 403, "unauthorized_client")
    assert description == "Grant type 'password' not allowed for the client."


def test_confidential_client_must_prove_its_secret(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body("lin@example.com", client_id=BACKEND_CLIENT_ID, client_secret="guess")
    assert_oauth_error(token(anonymous, body), 401, "access_denied")


def test_unknown_client_is_refused(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body("lin@example.com", client_id="stranger")
    assert_oauth_error(token(anonymous, body), 401, "access_denied")


def test_public_client_cannot_use_client_credentials(anonymous: httpx.Client) -> None:
    body = {"grant_type": "client_credentials", "client_id": SPA_CLIENT_ID}
    assert_oauth_error(token(anonymous, body), 403, "unauthorized_client")


def test_realm_not_enabled_for_the_client_is_refused(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body("lin@example.com", realm=OTHER_CONNECTION)
    assert_oauth_error(token(anonymous, body), 403, "unauthorized_client")


def test_password_realm_needs_a_realm(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body("lin@example.com")
    del body["realm"]
    description = assert_oauth_error(token(anonymous, body), 400, "invalid_request")
    assert description == "Missing required parameter: realm"


def test_login_for_another_api_is_refused(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body("lin@example.com", audience="https://elsewhere.example/")
    assert_oauth_error(token(anonymous, body), 403, "access_denied")


def test_admin_client_may_log_users_in(anonymous: httpx.Client, user_id: str) -> None:
    body = login_body(
        "lin@example.com", client_id=ADMIN_CLIENT_ID, client_secret=ADMIN_CLIENT_SECRET
    )
    assert token(anonymous, body).status_code == 200


def test_login_accepts_a_form_encoded_body(anonymous: httpx.Client, user_id: str) -> None:
    response = anonymous.post("/oauth/token", data=login_body("lin@example.com"))
    assert response.status_code == 200, response.text


# Brute-force protection


def fail(client: httpx.Client, times: int, **headers: str) -> None:
    for _ in range(times):
        response = token(client, login_body("lin@example.com", password="Wrong-9-pass"), **headers)
        assert response.status_code == 403, response.text


def test_after_max_failed_logins_even_the_right_password_is_refused(
    anonymous: httpx.Client, settings: Settings, user_id: str
) -> None:
    fail(anonymous, MAX_ATTEMPTS)
    response = token(anonymous, login_body("lin@example.com"))
    assert_oauth_error(response, 429, "too_many_attempts")
    assert response.headers["X-RateLimit-Limit"] == str(MAX_ATTEMPTS)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert 0 < reset - time.time() <= settings.brute_force_block_seconds + 1
    assert 0 < int(response.headers["Retry-After"]) <= settings.brute_force_block_seconds


def test_blocked_logins_record_no_event(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    fail(anonymous, MAX_ATTEMPTS)
    token(anonymous, login_body("lin@example.com"))
    assert [type(e).__name__ for e in events_of(container, user_id)] == ["UserCreated"]


def test_a_success_before_the_limit_clears_the_failures(
    anonymous: httpx.Client, user_id: str
) -> None:
    fail(anonymous, MAX_ATTEMPTS - 1)
    assert token(anonymous, login_body("lin@example.com")).status_code == 200
    fail(anonymous, MAX_ATTEMPTS - 1)
    assert token(anonymous, login_body("lin@example.com")).status_code == 200


def test_block_is_per_ip_as_forwarded_by_a_confidential_client(
    anonymous: httpx.Client, user_id: str
) -> None:
    for _ in range(MAX_ATTEMPTS):
        body = backend_login_body("lin@example.com", password="Wrong-9-pass")
        token(anonymous, body, **{"auth0-forwarded-for": "203.0.113.9"})
    blocked = token(
        anonymous,
        backend_login_body("lin@example.com"),
        **{"auth0-forwarded-for": "203.0.113.9"},
    )
    assert blocked.status_code == 429
    elsewhere = token(
        anonymous,
        backend_login_body("lin@example.com"),
        **{"auth0-forwarded-for": "198.51.100.7"},
    )
    assert elsewhere.status_code == 200, elsewhere.text


def test_public_client_cannot_choose_the_ip_that_is_counted(
    anonymous: httpx.Client, user_id: str
) -> None:
    for n in range(MAX_ATTEMPTS):
        fail(anonymous, 1, **{"auth0-forwarded-for": f"192.0.2.{n}"})
    response = token(anonymous, login_body("lin@example.com"))
    assert response.status_code == 429


def test_failed_logins_for_unknown_users_are_throttled_too(anonymous: httpx.Client) -> None:
    for _ in range(MAX_ATTEMPTS):
        token(anonymous, login_body("ghost@example.com"))
    assert token(anonymous, login_body("ghost@example.com")).status_code == 429


def test_forwarded_ip_becomes_last_ip(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    body = backend_login_body("lin@example.com")
    assert token(anonymous, body, **{"auth0-forwarded-for": "203.0.113.5"}).status_code == 200
    assert container.profiles.get_user(user_id).last_ip == "203.0.113.5"


def test_a_forwarded_value_that_is_not_an_ip_is_ignored(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    body = backend_login_body("lin@example.com")
    assert token(anonymous, body, **{"auth0-forwarded-for": "<script>"}).status_code == 200
    assert container.profiles.get_user(user_id).last_ip == "127.0.0.1"


def test_missing_username_is_invalid_request(anonymous: httpx.Client) -> None:
    body = login_body("x@example.com")
    del body["username"]
    description = assert_oauth_error(token(anonymous, body), 400, "invalid_request")
    assert description == "Missing required parameter: username"


def test_login_with_correct_password_still_works_for_others_during_a_block(
    anonymous: httpx.Client, user_id: str
) -> None:
    sign_up(anonymous, "other@example.com")
    fail(anonymous, MAX_ATTEMPTS)
    assert (
        token(anonymous, login_body("other@example.com", password=PASSWORD_TEXT)).status_code == 200
    )
