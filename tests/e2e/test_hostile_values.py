"""Hostile values: nesting, integers, dates, NUL and ids that the stores or the router cannot
take. Each gets a 400 with its error body on both stores, and writes nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.http.routes.history import MAX_PAGE
from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.e2e.test_hostile_input import CONNECTION, assert_auth0_error, position
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

# Levels: deeper than the copies, serialisers and reprs of a request can recurse, yet within
# the 1,024 that orjson reads.
DEEP = 1_000
MAX_INT64 = 2**63 - 1
NUL_EMAIL = "nul\x00@example.com"
STRONG_PASSWORD = "Correct-horse-9"


def deep_json(levels: int) -> bytes:
    return b'{"level":' * levels + b"true" + b"}" * levels


def raw_create(user_metadata: bytes, content_type: str) -> bytes:
    """A create body in `content_type` whose user_metadata is `user_metadata`, byte for byte."""
    if content_type == "application/json":
        return b'{"connection":"%s","password":"%s","user_metadata":%s}' % (
            CONNECTION.encode(),
            PASSWORD.encode(),
            user_metadata,
        )
    fields = f"connection={CONNECTION}&password={quote(PASSWORD)}"
    return f"{fields}&user_metadata={quote(user_metadata)}".encode()


@pytest.fixture
def user_id(http: httpx.Client) -> str:
    response = http.post("/api/v2/users", json={"connection": CONNECTION, "password": PASSWORD})
    assert response.status_code == 201, response.text
    created: str = response.json()["user_id"]
    return created


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the server logs during the test, its own loggers and uvicorn's alike."""
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.addHandler(caplog.handler)
    yield caplog
    uvicorn.removeHandler(caplog.handler)


def assert_logged_no_error(log: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in log.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in log.text
    assert len(log.text) < 2_000


# Defect 5: metadata nested a thousand levels deep, as JSON and as form fields, for any writer.


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded"], ids=["json", "form"]
)
def test_a_create_nested_a_thousand_levels_deep_is_refused_with_400_and_no_traceback(
    http: httpx.Client,
    container: Container,
    server_log: pytest.LogCaptureFixture,
    content_type: str,
) -> None:
    before = position(container)
    response = http.post(
        "/api/v2/users",
        content=raw_create(deep_json(DEEP), content_type),
        headers={"Content-Type": content_type},
    )
    assert_auth0_error(response, 400, "invalid_body", "nested deeper than")
    assert position(container) == before
    assert_logged_no_error(server_log)


def test_a_patch_nested_a_thousand_levels_deep_is_refused_with_400_and_no_traceback(
    http: httpx.Client,
    container: Container,
    server_log: pytest.LogCaptureFixture,
    user_id: str,
) -> None:
    before = position(container)
    response = http.patch(
        f"/api/v2/users/{user_id}",
        content=b'{"app_metadata":%s}' % deep_json(DEEP),
        headers={"Content-Type": "application/json"},
    )
    assert_auth0_error(response, 400, "invalid_body", "nested deeper than")
    assert position(container) == before
    assert_logged_no_error(server_log)


def test_an_end_user_patching_their_own_metadata_a_thousand_levels_deep_gets_400(
    http: httpx.Client, container: Container, server_log: pytest.LogCaptureFixture, user_id: str
) -> None:
    own_token = container.tokens.issue(
        sub=user_id,
        audience=container.settings.management_audience,
        scopes=["update:current_user_metadata"],
        client_id=ADMIN_CLIENT_ID,
        grant="password",
    )
    before = position(container)
    response = http.patch(
        f"/api/v2/users/{user_id}",
        content=b'{"user_metadata":%s}' % deep_json(DEEP),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {own_token}"},
    )
    assert_auth0_error(response, 400, "invalid_body", "nested deeper than")
    assert position(container) == before
    assert_logged_no_error(server_log)


def test_a_token_request_with_a_grant_type_a_thousand_levels_deep_gets_400_without_credentials(
    server: RunningServer, server_log: pytest.LogCaptureFixture
) -> None:
    response = httpx.post(
        f"{server.base_url}/oauth/token",
        content=b'{"grant_type":%s}' % deep_json(DEEP),
        headers={"Content-Type": "application/json"},
    )
    assert_auth0_error(response, 400, "invalid_body", "nested deeper than")
    assert_logged_no_error(server_log)


def test_a_grant_type_that_is_not_text_is_refused_as_missing(server: RunningServer) -> None:
    response = httpx.post(f"{server.base_url}/oauth/token", json={"grant_type": {"a": [1]}})
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: grant_type",
    }


# Defect 6: integers and dates that the stores (or Python's dates) cannot hold.

OUT_OF_RANGE_QUERIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("feed from 2^70", "/api/v2/events", {"from": 2**70}, "from"),
    ("feed from 2^63", "/api/v2/events", {"from": 2**63}, "from"),
    ("version 2^63", "/api/v2/users/{id}", {"version": 2**63}, "version"),
    ("as_of year 1", "/api/v2/users/{id}", {"as_of": "0001-01-01T00:00:00Z"}, "as_of"),
    (
        "as_of past 9999 by its offset",
        "/api/v2/users/{id}",
        {"as_of": "9999-12-31T23:59:59-01:00"},
        "as_of",
    ),
    ("history from 2^63", "/api/v2/users/{id}/history", {"from": 2**63}, "from"),
    (
        "history page 2^70",
        "/api/v2/users/{id}/history",
        {"page": 2**70, "include_totals": "true"},
        "page",
    ),
    (
        "history page whose start passes 64 bits",
        "/api/v2/users/{id}/history",
        {"page": MAX_PAGE + 1, "include_totals": "true"},
        "page",
    ),
    ("since year 1", "/api/v2/users/{id}/history", {"since": "0001-01-01T00:00:00Z"}, "since"),
    ("until year 1", "/api/v2/users/{id}/history", {"until": "0001-01-01T00:00:00Z"}, "until"),
    (
        "since before the epoch",
        "/api/v2/users/{id}/history",
        {"since": "1969-12-31T23:59:59Z"},
        "since",
    ),
]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [case[1:] for case in OUT_OF_RANGE_QUERIES],
    ids=[case[0] for case in OUT_OF_RANGE_QUERIES],
)
def test_an_integer_or_date_out_of_range_is_refused_with_400(
    http: httpx.Client, user_id: str, path: str, params: dict[str, Any], name: str
) -> None:
    response = http.get(path.format(id=user_id), params=params)
    assert_auth0_error(response, 400, "invalid_query_string", f"on property {name}")


def test_the_largest_integers_and_widest_dates_are_still_answered(
    http: httpx.Client, user_id: str
) -> None:
    feed = http.get("/api/v2/events", params={"from": MAX_INT64})
    assert feed.status_code == 200, feed.text
    assert feed.json() == {"events": [], "next": MAX_INT64}
    version = http.get(f"/api/v2/users/{user_id}", params={"version": MAX_INT64})
    assert_auth0_error(version, 404, "inexistent_user", f"no version {MAX_INT64}")
    history = f"/api/v2/users/{user_id}/history"
    assert len(http.get(history, params={"from": MAX_INT64}).json()["events"]) == 1
    last_page = http.get(history, params={"page": MAX_PAGE, "include_totals": "true"}).json()
    assert last_page["start"] == MAX_PAGE * 50
    assert last_page["events"] == []
    widest = {"since": "1970-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"}
    assert len(http.get(history, params=widest).json()) == 1


# Defect 7: NUL (and, in emails and ids, any control character) on both stores.

CONTROL_CHARACTER_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("NUL in email", {"email": NUL_EMAIL}, "control characters' on property email"),
    ("SOH in email", {"email": "soh\x01@example.com"}, "control characters' on property email"),
    ("NUL in user_id", {"user_id": "a\x00b"}, "control characters' on property user_id"),
    ("DEL in user_id", {"user_id": "a\x7fb"}, "control characters' on property user_id"),
    ("NUL in name", {"name": "Ja\x00ne"}, "NUL (\\u0000) characters' on property name"),
    (
        "NUL in a metadata value",
        {"user_metadata": {"hobby": ["chess", "sur\x00f"]}},
        "NUL (\\u0000) characters' on property user_metadata.hobby[1]",
    ),
    (
        "NUL in a nested metadata key",
        {"app_metadata": {"plan": {"ti\x00er": 1}}},
        "NUL (\\u0000) characters' on property app_metadata.plan",
    ),
]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [case[1:] for case in CONTROL_CHARACTER_CREATES],
    ids=[case[0] for case in CONTROL_CHARACTER_CREATES],
)
def test_a_create_with_a_control_character_is_refused_with_400(
    http: httpx.Client, container: Container, fields: dict[str, Any], fragment: str
) -> None:
    before = position(container)
    response = http.post(
        "/api/v2/users", json={"connection": CONNECTION, "password": PASSWORD, **fields}
    )
    assert_auth0_error(response, 400, "invalid_body", fragment)
    assert position(container) == before


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"email": NUL_EMAIL}, "control characters' on property email"),
        ({"nickname": "\x00"}, "on property nickname"),
        ({"user_metadata": {"note": "\x00"}}, "on property user_metadata.note"),
    ],
    ids=["email", "nickname", "metadata"],
)
def test_a_patch_with_nul_is_refused_with_400(
    http: httpx.Client, container: Container, user_id: str, body: dict[str, Any], fragment: str
) -> None:
    before = position(container)
    response = http.patch(f"/api/v2/users/{user_id}", json=body)
    assert_auth0_error(response, 400, "invalid_body", fragment)
    assert position(container) == before


def test_users_by_email_with_nul_is_refused_with_400(http: httpx.Client) -> None:
    response = http.get("/api/v2/users-by-email", params={"email": NUL_EMAIL})
    assert_auth0_error(response, 400, "invalid_query_string", "on property email")


def test_a_login_as_an_email_with_nul_is_wrong_credentials(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.base_url}/oauth/token",
        json={
            "grant_type": "password",
            "client_id": ADMIN_CLIENT_ID,
            "client_secret": ADMIN_CLIENT_SECRET,
            "username": NUL_EMAIL,
            "password": STRONG_PASSWORD,
        },
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "invalid_grant"


def test_a_sign_up_with_nul_in_the_email_is_refused_with_400(
    server: RunningServer, container: Container
) -> None:
    before = position(container)
    response = httpx.post(
        f"{server.base_url}/dbconnections/signup",
        json={
            "client_id": ADMIN_CLIENT_ID,
            "email": NUL_EMAIL,
            "password": STRONG_PASSWORD,
            "connection": CONNECTION,
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_signup"
    assert position(container) == before


# Defect 8: integers beyond 64 bits, which orjson would read as floats.

BIG_INTEGERS: list[tuple[str, bytes]] = [
    ("2^64", b"18446744073709551616"),
    ("10^29+1", b"100000000000000000000000000001"),
    ("-2^63-1", b"-9223372036854775809"),
    ("2^63", b"9223372036854775808"),
]


@pytest.mark.parametrize(
    "literal", [case[1] for case in BIG_INTEGERS], ids=[case[0] for case in BIG_INTEGERS]
)
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_integer_beyond_64_bits_is_refused_with_400(
    http: httpx.Client, container: Container, literal: bytes, content_type: str
) -> None:
    content = raw_create(b'{"scores":[1,{"n":%s}]}' % literal, content_type)
    before = position(container)
    response = http.post("/api/v2/users", content=content, headers={"Content-Type": content_type})
    assert_auth0_error(
        response,
        400,
        "invalid_body",
        f"'Integer {literal.decode()} is outside the 64-bit range' "
        "on property user_metadata.scores[1].n.",
    )
    assert position(container) == before


def test_a_patch_with_an_integer_beyond_64_bits_is_refused_with_400(
    http: httpx.Client, container: Container, user_id: str
) -> None:
    before = position(container)
    response = http.patch(
        f"/api/v2/users/{user_id}",
        content=b'{"app_metadata":{"quota":18446744073709551616}}',
        headers={"Content-Type": "application/json"},
    )
    assert_auth0_error(response, 400, "invalid_body", "on property app_metadata.quota")
    assert position(container) == before


def test_64_bit_integers_and_large_floats_are_kept_exactly(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/users",
        content=raw_create(
            b'{"max":9223372036854775807,"min":-9223372036854775808,"float":1.8446744073709552e19}',
            "application/json",
        ),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    stored = http.get(f"/api/v2/users/{created.json()['user_id']}").json()["user_metadata"]
    assert stored == {"max": MAX_INT64, "min": -(2**63), "float": 1.8446744073709552e19}
    assert isinstance(stored["max"], int)
    assert isinstance(stored["float"], float)


# Defect 9: ids that /users/{id} could never reach.


@pytest.mark.parametrize(
    ("requested", "fragment"),
    [
        ("a/b", 'may not contain "/": a/b'),
        ("auth0|", "does not match pattern ^.+\\|.+$: auth0|"),
        ("|abc", "does not match pattern ^.+\\|.+$: |abc"),
    ],
    ids=["slash", "empty id", "empty provider"],
)
def test_a_user_id_the_api_could_not_reach_is_refused_and_claims_no_email(
    http: httpx.Client, container: Container, requested: str, fragment: str
) -> None:
    before = position(container)
    response = http.post(
        "/api/v2/users",
        json={
            "connection": CONNECTION,
            "password": PASSWORD,
            "user_id": requested,
            "email": "slash@example.com",
        },
    )
    assert_auth0_error(response, 400, "invalid_body", fragment)
    assert "on property user_id" in response.json()["message"]
    assert position(container) == before
    again = http.post(
        "/api/v2/users",
        json={"connection": CONNECTION, "password": PASSWORD, "email": "slash@example.com"},
    )
    assert again.status_code == 201, again.text


def test_a_user_id_with_other_url_characters_is_reachable(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/users",
        json={"connection": CONNECTION, "password": PASSWORD, "user_id": "a?b#c%2Fd"},
    )
    assert created.status_code == 201, created.text
    path = f"/api/v2/users/{quote('auth0|a?b#c%2Fd', safe='')}"
    assert http.get(path).json()["user_id"] == "auth0|a?b#c%2Fd"
    assert http.patch(path, json={"user_metadata": {"ok": True}}).status_code == 200
    assert http.delete(path).status_code == 204
    assert http.get(path).status_code == 404
