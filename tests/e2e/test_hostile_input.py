"""Hostile and malformed requests: each gets its Auth0 error body and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from metaledger.api.bootstrap import Container
from tests.support import tokens
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
ISSUER = "http://metaledger.test/"
AUDIENCE = "http://metaledger.test/api/v2/"


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(levels):
        value = {"level": value}
    return value


def create_body(**fields: Any) -> bytes:
    return orjson.dumps({"connection": CONNECTION, "password": PASSWORD, **fields})


# (case, request body bytes, content type, expected status, errorCode, message fragment)
BAD_CREATES: list[tuple[str, bytes, str, int, str, str]] = [
    ("malformed json", b'{"connection":', "application/json", 400, "invalid_body", "JSON format"),
    ("array body", b"[]", "application/json", 400, "invalid_body", "found type array"),
    (
        "nan",
        b'{"connection":"x","user_metadata":{"a":NaN}}',
        "application/json",
        400,
        "invalid_body",
        "JSON format",
    ),
    (
        "not utf-8",
        b'{"connection":"\xff\xfe"}',
        "application/json",
        400,
        "invalid_body",
        "JSON format",
    ),
    (
        "wrong type",
        create_body(blocked="yes"),
        "application/json",
        400,
        "invalid_body",
        "'Expected type boolean but found type string' on property blocked",
    ),
    (
        "unknown field",
        create_body(favourite_color="red"),
        "application/json",
        400,
        "invalid_body",
        "Additional properties not allowed: favourite_color",
    ),
    (
        "missing connection",
        orjson.dumps({"email": "a@example.com", "password": PASSWORD}),
        "application/json",
        400,
        "invalid_body",
        "Missing required property: connection",
    ),
    (
        "unknown connection",
        create_body(connection="nope"),
        "application/json",
        400,
        "invalid_body",
        "Connection does not exist.",
    ),
    (
        "bad email",
        create_body(email="not-an-email"),
        "application/json",
        400,
        "invalid_body",
        "on property email",
    ),
    (
        "bad phone",
        create_body(phone_number="555"),
        "application/json",
        400,
        "invalid_body",
        "on property phone_number",
    ),
    (
        "dotted key",
        create_body(user_metadata={"foo.bar": 1}),
        "application/json",
        400,
        "invalid_body",
        'Fields with "." are not allowed',
    ),
    (
        "dollar key",
        create_body(app_metadata={"$where": 1}),
        "application/json",
        400,
        "invalid_body",
        'Fields with "$" are not allowed',
    ),
    (
        "reserved app key",
        create_body(app_metadata={"user_id": "x"}),
        "application/json",
        400,
        "invalid_body",
        "reserved",
    ),
    (
        "metadata not an object",
        create_body(user_metadata="x"),
        "application/json",
        400,
        "invalid_body",
        "Expected type object but found type string",
    ),
    (
        "too deep",
        create_body(user_metadata=nested(40)),
        "application/json",
        400,
        "invalid_body",
        "nested deeper",
    ),
    (
        "recursion bomb",
        b'{"connection":"x","user_metadata":' + b"[" * 100_000,
        "application/json",
        400,
        "invalid_body",
        "JSON format",
    ),
    (
        "bucket too large",
        create_body(user_metadata={"blob": "x" * 40_000}),
        "application/json",
        400,
        "invalid_body",
        "over the limit",
    ),
    (
        "body too large",
        create_body(user_metadata={"blob": "x" * 1_100_000}),
        "application/json",
        413,
        "payload_too_large",
        "larger than",
    ),
    ("text body", b"connection=x", "text/plain", 400, "invalid_body", "Unsupported content type"),
    (
        "form metadata not json",
        b"connection=Username-Password-Authentication&user_metadata=%7B",
        "application/x-www-form-urlencoded",
        400,
        "invalid_body",
        "is not JSON",
    ),
]


def position(container: Container) -> int:
    return container.profiles.recorder.max_notification_id() or 0


def assert_auth0_error(response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert body["error"] == httpx.codes.get_reason_phrase(status)
    assert body.get("errorCode") == code
    assert fragment in body["message"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code", "fragment"),
    [case[1:] for case in BAD_CREATES],
    ids=[case[0] for case in BAD_CREATES],
)
def test_a_bad_create_is_refused_and_writes_nothing(
    http: httpx.Client,
    container: Container,
    raw: bytes,
    content_type: str,
    status: int,
    code: str,
    fragment: str,
) -> None:
    before = position(container)
    response = http.post("/api/v2/users", content=raw, headers={"Content-Type": content_type})
    assert_auth0_error(response, status, code, fragment)
    assert position(container) == before


BAD_PATCHES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("dotted key", {"user_metadata": {"a": {"b.c": 1}}}, 400, "invalid_body", "dotted"),
    ("bucket not an object", {"app_metadata": ["admin"]}, 400, "invalid_body", "found type array"),
    (
        "password with email",
        {"password": "x1!aaaaaa", "email": "n@example.com"},
        400,
        "invalid_body",
        "Cannot update password and email simultaneously.",
    ),
    (
        "unknown field",
        {"logins_count": 5},
        400,
        "invalid_body",
        "Additional properties not allowed: logins_count",
    ),
    (
        "unknown connection",
        {"connection": "nope", "name": "x"},
        400,
        "invalid_body",
        "Connection does not exist.",
    ),
    (
        "bucket grows too large",
        {"user_metadata": {"blob": "y" * 40_000}},
        400,
        "invalid_body",
        "over the limit",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [case[1:] for case in BAD_PATCHES],
    ids=[case[0] for case in BAD_PATCHES],
)
def test_a_bad_patch_is_refused_and_writes_nothing(
    http: httpx.Client,
    container: Container,
    body: dict[str, Any],
    status: int,
    code: str,
    fragment: str,
) -> None:
    created = http.post("/api/v2/users", json={"connection": CONNECTION, "password": PASSWORD})
    user_id = created.json()["user_id"]
    before = position(container)
    response = http.patch(f"/api/v2/users/{user_id}", json=body)
    assert_auth0_error(response, status, code, fragment)
    assert position(container) == before


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "fragment"),
    [
        ("GET", "/api/v2/users/no-provider", 400, "invalid_uri", "does not match pattern"),
        ("PATCH", "/api/v2/users/auth0|missing", 404, "inexistent_user", "does not exist"),
        ("GET", "/api/v2/users-by-email", 400, "invalid_query_string", "email"),
        (
            "GET",
            "/api/v2/users/auth0|x?include_fields=maybe",
            400,
            "invalid_query_string",
            "include_fields",
        ),
    ],
)
def test_bad_paths_and_queries_get_auth0_errors(
    http: httpx.Client, method: str, path: str, status: int, code: str, fragment: str
) -> None:
    response = http.request(method, path, json={} if method == "PATCH" else None)
    assert_auth0_error(response, status, code, fragment)


def test_an_unknown_route_gets_an_auth0_404_body(http: httpx.Client) -> None:
    response = http.get("/api/v2/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


def test_an_unsupported_method_gets_an_auth0_405_body(http: httpx.Client) -> None:
    response = http.put("/api/v2/users/auth0|x", json={})
    assert response.status_code == 405
    assert response.json()["statusCode"] == 405


def test_a_form_encoded_create_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        "/api/v2/users",
        data={
            "connection": CONNECTION,
            "password": PASSWORD,
            "email": "form@example.com",
            "email_verified": "true",
            "user_metadata": '{"hobby": "chess"}',
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["user_metadata"] == {"hobby": "chess"}
    assert response.json()["email_verified"] is True


Forger = Callable[[Container], str]

FORGED: list[tuple[str, Forger, str]] = [
    ("alg none", lambda c: tokens.unsigned(tokens.claims(ISSUER, AUDIENCE)), "Invalid token."),
    (
        "hs256 keyed with the public key",
        lambda c: tokens.hs256_with_public_key(c.signing_key, tokens.claims(ISSUER, AUDIENCE)),
        "Invalid token.",
    ),
    (
        "another key",
        lambda c: tokens.signed_with_a_stranger_key(tokens.claims(ISSUER, AUDIENCE)),
        "Invalid signature",
    ),
    (
        "expired",
        lambda c: tokens.signed_with(c.signing_key, tokens.claims(ISSUER, AUDIENCE, exp=1000)),
        "Expired token",
    ),
    (
        "wrong audience",
        lambda c: tokens.signed_with(c.signing_key, tokens.claims(ISSUER, "https://other/api/v2/")),
        "Bad audience: https://other/api/v2/",
    ),
    (
        "wrong issuer",
        lambda c: tokens.signed_with(c.signing_key, tokens.claims("https://evil/", AUDIENCE)),
        "Bad issuer: https://evil/",
    ),
    ("garbage", lambda c: "not.a.jwt", "Invalid token."),
]


@pytest.mark.parametrize(
    ("forge", "fragment"), [case[1:] for case in FORGED], ids=[case[0] for case in FORGED]
)
def test_a_forged_token_is_refused_and_writes_nothing(
    server: RunningServer, container: Container, forge: Forger, fragment: str
) -> None:
    before = position(container)
    response = httpx.post(
        f"{server.base_url}/api/v2/users",
        json={"connection": CONNECTION, "password": PASSWORD},
        headers={"Authorization": f"Bearer {forge(container)}"},
    )
    assert_auth0_error(response, 401, "invalid_token", fragment)
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert position(container) == before


@pytest.mark.parametrize(
    ("header", "fragment"),
    [(None, "Missing authentication"), ("Basic dXNlcjpwdw==", "Bad HTTP authentication")],
)
def test_a_request_without_a_bearer_token_is_refused(
    server: RunningServer, header: str | None, fragment: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{server.base_url}/api/v2/users/auth0|x", headers=headers)
    assert_auth0_error(response, 401, "invalid_token", fragment)
