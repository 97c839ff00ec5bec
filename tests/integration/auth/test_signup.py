"""POST /dbconnections/signup against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.integration.auth.conftest import (
    BACKEND_CLIENT_ID,
    OTHER_CONNECTION,
    SPA_CLIENT_ID,
    events_of,
    sign_up,
    signup_body,
)


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    assert body["code"] == body["errorCode"] == code
    return body


def assert_nobody_signed_up(container: Container, email: str) -> None:
    assert container.profiles.users_by_email(email) == []


def post_signup(client: httpx.Client, email: str, **fields: object) -> httpx.Response:
    return client.post("/dbconnections/signup", json=signup_body(email, **fields))


def test_signup_returns_the_bare_id_and_the_fields_sent(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/dbconnections/signup",
        json=signup_body(
            "Ada@Example.com",
            given_name="Ada",
            family_name="Lovelace",
            user_metadata={"hobby": "engines"},
        ),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "|" not in body["_id"]
    assert body["email"] == "ada@example.com"
    assert body["email_verified"] is False
    assert body["given_name"] == "Ada"
    assert body["family_name"] == "Lovelace"
    assert body["user_metadata"] == {"hobby": "engines"}
    assert "password" not in body


def test_signup_records_user_created_by_self_signup(
    anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "grace@example.com", user_metadata={"hobby": "cobol"})
    [created] = events_of(container, user_id)
    assert type(created).__name__ == "UserCreated"
    assert created.actor["kind"] == "self-signup"
    assert created.actor["id"] == SPA_CLIENT_ID
    assert container.profiles.get_user(user_id).user_metadata == {"hobby": "cobol"}


def test_signup_stores_an_argon2id_hash_and_never_the_password(
    anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "hash@example.com")
    profile = container.profiles.get_user(user_id).profile
    assert profile["password_hash"].startswith("$argon2id$")
    assert "password" not in profile


def test_signup_accepts_a_form_encoded_body(anonymous: httpx.Client) -> None:
    body = signup_body("form@example.com", user_metadata='{"color": "teal"}')
    response = anonymous.post("/dbconnections/signup", data=body)
    assert response.status_code == 200, response.text
    assert response.json()["user_metadata"] == {"color": "teal"}


def test_signup_of_an_existing_email_is_invalid_signup(anonymous: httpx.Client) -> None:
    sign_up(anonymous, "twice@example.com")
    response = post_signup(anonymous, "TWICE@example.com")
    body = assert_refused(response, 400, "invalid_signup")
    assert body["name"] == "BadRequestError"
    assert body["description"] == "Invalid sign up"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {f"key{n}": "value" for n in range(11)},
            "user_metadata can have at most 10 properties",
        ),
        ({"k" * 101: "v"}, "user_metadata property names can have at most 100 characters"),
        ({"bio": "x" * 501}, "user_metadata.bio can have at most 500 characters"),
        ({"age": 3}, "invalid user_metadata.age type (only strings are allowed)"),
        ({"age": True}, "invalid user_metadata.age type (only strings are allowed)"),
        ({"age": None}, "invalid user_metadata.age type (only strings are allowed)"),
        ({"age": ["a"]}, "invalid user_metadata.age type (only strings are allowed)"),
        ({"age": {"n": "1"}}, "invalid user_metadata.age type (only strings are allowed)"),
        (["a"], "invalid user_metadata type (expected object)"),
    ],
)
def test_signup_metadata_beyond_auth0_limits_is_refused(
    anonymous: httpx.Client, container: Container, metadata: object, message: str
) -> None:
    response = post_signup(anonymous, "limits@example.com", user_metadata=metadata)
    assert assert_refused(response, 400, "invalid_signup")["message"] == message
    assert_nobody_signed_up(container, "limits@example.com")


def test_signup_metadata_at_the_limits_is_accepted(anonymous: httpx.Client) -> None:
    metadata = {f"{n}" + "k" * 99: "v" * 500 for n in range(10)}
    sign_up(anonymous, "ten@example.com", user_metadata=metadata)


def test_signup_metadata_key_with_a_dot_is_refused(
    anonymous: httpx.Client, container: Container
) -> None:
    response = post_signup(anonymous, "dotted@example.com", user_metadata={"a.b": "c"})
    body = assert_refused(response, 400, "invalid_signup")
    assert 'Fields with "." are not allowed' in body["message"]
    assert_nobody_signed_up(container, "dotted@example.com")


def test_signup_with_a_short_password_reports_the_policy(
    anonymous: httpx.Client, container: Container
) -> None:
    response = post_signup(anonymous, "short@example.com", password="Ab1!")
    body = assert_refused(response, 400, "invalid_password")
    assert body["name"] == "PasswordStrengthError"
    assert body["message"] == "Password is too weak"
    length = body["description"]["rules"][0]
    assert (length["code"], length["format"], length["verified"]) == ("lengthAtLeast", [8], False)
    assert "At least 8 characters in length" in body["policy"]
    assert_nobody_signed_up(container, "short@example.com")


def test_signup_with_too_few_character_classes_is_refused(
    anonymous: httpx.Client, container: Container
) -> None:
    response = post_signup(anonymous, "classes@example.com", password="alllowercaseletters")
    body = assert_refused(response, 400, "invalid_password")
    classes = body["description"]["rules"][1]
    assert classes["code"] == "containsAtLeast"
    assert classes["verified"] is False
    assert [item["verified"] for item in classes["items"]] == [True, False, False, False]
    assert_nobody_signed_up(container, "classes@example.com")


def test_signup_for_an_unknown_client_is_unauthorized(anonymous: httpx.Client) -> None:
    response = post_signup(anonymous, "who@example.com", client_id="nobody")
    assert_refused(response, 401, "unauthorized")


def test_signup_to_a_connection_not_enabled_for_the_client_is_forbidden(
    anonymous: httpx.Client, container: Container
) -> None:
    response = post_signup(anonymous, "partner@example.com", connection=OTHER_CONNECTION)
    assert_refused(response, 403, "unauthorized")
    assert_nobody_signed_up(container, "partner@example.com")


def test_signup_through_a_client_with_that_connection_is_accepted(anonymous: httpx.Client) -> None:
    sign_up(
        anonymous,
        "partner@example.com",
        client_id=BACKEND_CLIENT_ID,
        connection=OTHER_CONNECTION,
    )


def test_signup_to_an_unknown_connection_is_refused(anonymous: httpx.Client) -> None:
    response = post_signup(anonymous, "x@example.com", connection="Nope")
    body = assert_refused(response, 400, "invalid_signup")
    assert body["message"] == "Connection does not exist."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app_metadata": {"plan": "pro"}}, "Additional properties not allowed: app_metadata"),
        ({"email": "not-an-email"}, "on property email"),
        ({"password": None}, "on property password"),
    ],
)
def test_signup_body_errors_are_invalid_signup(
    anonymous: httpx.Client, change: dict[str, object], message: str
) -> None:
    sent = {**signup_body("bad@example.com"), **change}
    response = anonymous.post("/dbconnections/signup", json=sent)
    assert message in assert_refused(response, 400, "invalid_signup")["message"]


def test_signup_without_a_body_is_invalid_signup(anonymous: httpx.Client) -> None:
    response = anonymous.post("/dbconnections/signup", content=b"[1, 2]")
    assert_refused(response, 400, "invalid_signup")


def test_signup_users_belong_to_the_connection_they_named(
    anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "conn@example.com")
    assert container.profiles.get_user(user_id).connection == DEFAULT_CONNECTION
