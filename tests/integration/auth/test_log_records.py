"""Each Auth0 log type code is produced by the action Auth0 produces it for, and read back
through `GET /api/v2/logs`; no record holds a password or a token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, admin_token
from tests.integration.auth.conftest import (
    MAX_ATTEMPTS,
    PASSWORD_TEXT,
    SPA_CLIENT_ID,
    login_body,
    sign_up,
    signup_body,
)
from tests.support.audit import audit_caught_up
from tests.support.server import RunningServer

IP_ATTEMPTS = 6
WRONG_PASSWORD = "Not-the-password-1"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(ip_throttle_max_attempts=IP_ATTEMPTS)


@pytest.fixture
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    token = admin_token(server.base_url)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def records(admin: httpx.Client, container: Container, q: str) -> list[dict[str, Any]]:
    audit_caught_up(container)
    response = admin.get("/api/v2/logs", params={"q": q, "sort": "date:1"})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def types(found: list[dict[str, Any]]) -> list[str]:
    return [record["type"] for record in found]


def test_a_user_created_through_the_management_api_is_a_sapi_record(
    admin: httpx.Client, container: Container
) -> None:
    created = admin.post(
        "/api/v2/users",
        json={
            "connection": DEFAULT_CONNECTION,
            "email": "ada@example.com",
            "password": PASSWORD_TEXT,
        },
    )
    user_id = created.json()["user_id"]

    [record] = records(admin, container, f'user_id:"{user_id}"')

    assert (record["type"], record["description"], record["client_id"]) == (
        "sapi",
        "Create a User",
        ADMIN_CLIENT_ID,
    )
    assert record["details"]["changes"]["email"] == {"old": None, "new": "ada@example.com"}
    assert "password" not in str(record["details"]["changes"].get("password", ""))


def test_a_metadata_change_is_a_sapi_record_with_the_diff_and_the_actor(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "ada@example.com")
    admin.patch(f"/api/v2/users/{user_id}", json={"app_metadata": {"roles": ["admin"]}})

    found = records(admin, container, f'user_id:"{user_id}" AND type:sapi')

    assert [(r["details"]["changes"], r["details"]["actor"]["id"]) for r in found] == [
        ({"app_metadata.roles": {"old": None, "new": ["admin"]}}, ADMIN_CLIENT_ID)
    ]


def test_a_sign_up_is_ss_and_a_refused_one_fs(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "ada@example.com")
    weak = anonymous.post("/dbconnections/signup", json=signup_body("bo@example.com", password="x"))
    assert weak.status_code == 400

    signed_up = records(admin, container, f'user_id:"{user_id}"')
    refused = records(admin, container, "type:fs")

    assert (types(signed_up), signed_up[0]["client_id"]) == (["ss"], SPA_CLIENT_ID)
    assert [(r["user_name"], r["client_id"], r["description"]) for r in refused] == [
        ("bo@example.com", SPA_CLIENT_ID, "Password is too weak")
    ]


def test_a_login_is_s_and_a_wrong_password_fp_and_an_unknown_user_fu(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "ada@example.com")
    assert anonymous.post("/oauth/token", json=login_body("ada@example.com")).status_code == 200
    wrong = login_body("ada@example.com", WRONG_PASSWORD)
    assert anonymous.post("/oauth/token", json=wrong).status_code == 403
    unknown = login_body("nobody@example.com", WRONG_PASSWORD)
    assert anonymous.post("/oauth/token", json=unknown).status_code == 403

    logins = records(admin, container, "type:(s OR fp OR fu)")

    assert [(r["type"], r.get("user_id"), r.get("user_name")) for r in logins] == [
        ("s", user_id, "ada@example.com"),
        ("fp", user_id, "ada@example.com"),
        ("fu", None, "nobody@example.com"),
    ]
    assert all(r["client_id"] == SPA_CLIENT_ID and r["ip"] for r in logins)


def test_no_record_holds_a_password_or_a_token(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    sign_up(anonymous, "ada@example.com")
    login = anonymous.post("/oauth/token", json=login_body("ada@example.com"))
    anonymous.post("/oauth/token", json=login_body("ada@example.com", WRONG_PASSWORD))
    access_token = login.json()["access_token"]

    everything = str(records(admin, container, ""))

    assert PASSWORD_TEXT not in everything
    assert WRONG_PASSWORD not in everything
    assert access_token not in everything


def test_a_blocked_users_login_is_f(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "ada@example.com")
    admin.patch(f"/api/v2/users/{user_id}", json={"blocked": True})
    assert anonymous.post("/oauth/token", json=login_body("ada@example.com")).status_code == 401

    [record] = records(admin, container, "type:f")

    assert (record["user_id"], record["description"]) == (user_id, "user is blocked")


def test_brute_force_protection_blocking_an_account_is_limit_wc(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    sign_up(anonymous, "ada@example.com")
    for _ in range(MAX_ATTEMPTS):
        anonymous.post("/oauth/token", json=login_body("ada@example.com", WRONG_PASSWORD))
    blocked = anonymous.post("/oauth/token", json=login_body("ada@example.com"))
    assert blocked.status_code == 429

    assert [r["user_name"] for r in records(admin, container, "type:limit_wc")] == [
        "ada@example.com"
    ]


def test_suspicious_ip_throttling_is_limit_mu(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    for number in range(IP_ATTEMPTS):
        anonymous.post("/oauth/token", json=login_body(f"u{number}@example.com", WRONG_PASSWORD))
    throttled = anonymous.post("/oauth/token", json=login_body("last@example.com"))
    assert throttled.status_code == 429

    assert [r["user_name"] for r in records(admin, container, "type:limit_mu")] == [
        "last@example.com"
    ]


def test_client_credentials_exchanges_are_seccft_and_feccft(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    form = {"grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID}
    refused = anonymous.post("/oauth/token", data={**form, "client_secret": "wrong"})
    assert refused.status_code == 401
    granted = anonymous.post("/oauth/token", data={**form, "client_secret": ADMIN_CLIENT_SECRET})
    assert granted.status_code == 200

    exchanges = records(admin, container, "type:(seccft OR feccft)")

    # The first success is the admin client's own token, got by the `admin` fixture.
    assert types(exchanges) == ["seccft", "feccft", "seccft"]
    assert {r["client_id"] for r in exchanges} == {ADMIN_CLIENT_ID}
    assert ADMIN_CLIENT_SECRET not in str(exchanges)


def test_a_refused_management_api_call_is_fapi_with_the_caller(
    admin: httpx.Client, container: Container
) -> None:
    invalid = admin.post("/api/v2/users", json={"connection": DEFAULT_CONNECTION})
    assert invalid.status_code == 400
    scoped = admin_token(admin.base_url.__str__().rstrip("/"), scope="read:users")
    forbidden = httpx.delete(
        f"{admin.base_url}/api/v2/users/auth0|someone",
        headers={"Authorization": f"Bearer {scoped}"},
    )
    assert forbidden.status_code == 403

    failed = records(admin, container, "type:fapi")

    assert [
        (r["client_id"], r["details"]["request"]["method"], r["details"]["response"]["statusCode"])
        for r in failed
    ] == [(ADMIN_CLIENT_ID, "POST", 400), (ADMIN_CLIENT_ID, "DELETE", 403)]


def test_a_deletion_is_sdu(
    admin: httpx.Client, anonymous: httpx.Client, container: Container
) -> None:
    user_id = sign_up(anonymous, "ada@example.com")
    assert admin.delete(f"/api/v2/users/{user_id}").status_code == 204

    assert types(records(admin, container, f'user_id:"{user_id}"')) == ["ss", "sdu"]
