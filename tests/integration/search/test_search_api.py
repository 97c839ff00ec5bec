"""GET /api/v2/users over HTTP: Auth0's parameters, bodies and errors, and our extensions."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from metaledger.projections.search.store import USERS_TABLE, wait_for
from tests.conftest import admin_token
from tests.integration.search.conftest import create
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"


def seeded(container: Container, count: int) -> list[str]:
    """`count` users written straight to the application, once the read model has them."""
    ids = [create(container.profiles, f"user{n:04d}") for n in range(count)]
    end = container.profiles.recorder.max_notification_id() or 0
    assert wait_for(container.search, end, timeout=30)
    return ids


def search(http: httpx.Client, **params: Any) -> httpx.Response:
    return http.get("/api/v2/users", params=params)


def test_a_search_waiting_for_a_write_position_finds_that_write(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/users",
        json={
            "connection": CONNECTION,
            "password": PASSWORD,
            "email": "fresh@example.com",
            "app_metadata": {"n": 1},
        },
    )
    position = created.headers["X-Metaledger-Position"]
    found = search(http, q="email:fresh@example.com", min_position=position)
    assert [user["user_id"] for user in found.json()] == [created.json()["user_id"]]


def test_every_search_names_the_position_of_its_results(
    http: httpx.Client, container: Container
) -> None:
    seeded(container, 2)
    assert search(http).headers["X-Metaledger-Position"] == "2"


def test_include_totals_wraps_the_page_as_auth0_does(
    http: httpx.Client, container: Container
) -> None:
    seeded(container, 5)
    body = search(http, page=1, per_page=2, include_totals="true").json()
    assert (sorted(body), body["start"], body["limit"], body["length"], body["total"]) == (
        ["length", "limit", "start", "total", "users"],
        2,
        2,
        2,
        5,
    )


def test_without_include_totals_the_body_is_an_array(
    http: httpx.Client, container: Container
) -> None:
    ids = seeded(container, 3)
    assert [user["user_id"] for user in search(http).json()] == ids


def test_per_page_over_100_is_refused(http: httpx.Client) -> None:
    response = search(http, per_page=101)
    assert (response.status_code, response.json()["errorCode"]) == (400, "invalid_query_string")


@pytest.mark.parametrize(
    "params",
    [
        {"page": 10**18, "per_page": 100},
        {"page": 2**63},
        {"per_page": 10**18},
        {"from": 2**63},
    ],
)
def test_an_integer_parameter_past_its_bound_is_refused_with_400(
    http: httpx.Client, container: Container, params: dict[str, int]
) -> None:
    seeded(container, 2)
    response = search(http, **params)
    assert (response.status_code, response.json()["errorCode"]) == (400, "invalid_query_string")


def test_the_largest_checkpoint_is_served(http: httpx.Client, container: Container) -> None:
    seeded(container, 2)
    response = search(http, take=1, **{"from": 2**63 - 1})
    assert (response.status_code, response.json()) == (200, {"users": []})


def test_paging_past_the_first_1000_results_is_refused_when_there_are_more(
    http: httpx.Client, container: Container
) -> None:
    seeded(container, 1001)
    response = search(http, page=10, per_page=100)
    assert (response.status_code, response.json()["message"]) == (
        400,
        "You can only page through the first 1000 records. "
        "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation.",
    )


def test_the_last_page_within_the_cap_is_served(http: httpx.Client, container: Container) -> None:
    seeded(container, 1001)
    response = search(http, page=9, per_page=100)
    assert (response.status_code, len(response.json())) == (200, 100)


def test_a_page_past_a_smaller_result_set_is_empty_not_an_error(
    http: httpx.Client, container: Container
) -> None:
    seeded(container, 3)
    response = search(http, page=10, per_page=100)
    assert (response.status_code, response.json()) == (200, [])


def test_sort_descending(http: httpx.Client, container: Container) -> None:
    ids = seeded(container, 3)
    found = search(http, sort="user_id:-1").json()
    assert [user["user_id"] for user in found] == sorted(ids, reverse=True)


def test_sort_by_metadata_is_refused(http: httpx.Client) -> None:
    response = search(http, sort="app_metadata.plan:1")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Sorting by user_metadata or app_metadata is not supported.",
    )


def test_a_malformed_sort_is_refused(http: httpx.Client) -> None:
    assert search(http, sort="created_at:up").status_code == 400


def test_fields_narrow_each_user(http: httpx.Client, container: Container) -> None:
    seeded(container, 2)
    found = search(http, fields="user_id,created_at", include_fields="true").json()
    assert [sorted(user) for user in found] == [["created_at", "user_id"]] * 2


def test_search_engine_v2_is_refused_with_auth0_message(http: httpx.Client) -> None:
    response = search(http, q="name:x", search_engine="v2")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.",
    )


def test_search_engine_v1_is_refused_with_auth0_message(http: httpx.Client) -> None:
    response = search(http, search_engine="v1")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "You are not allowed to use search_engine=v1.",
    )


def test_an_unparsable_query_is_refused_saying_where(http: httpx.Client) -> None:
    response = search(http, q="name:[a TO]", search_engine="v3")
    body = response.json()
    assert (response.status_code, body["errorCode"], "position 10" in body["message"]) == (
        400,
        "invalid_query_string",
        True,
    )


def test_an_over_long_query_is_refused_with_414(http: httpx.Client) -> None:
    response = search(http, q="name:" + "x" * 5000)
    assert (response.status_code, response.json()["statusCode"]) == (414, 414)


def test_a_token_without_read_users_is_refused(http: httpx.Client, container: Container) -> None:
    base = str(http.base_url).rstrip("/")
    weak = admin_token(base, scope="create:users")
    response = httpx.get(f"{base}/api/v2/users", headers={"Authorization": f"Bearer {weak}"})
    assert (response.status_code, response.json()["message"]) == (
        403,
        "Insufficient scope, expected any of: read:users,read:user_idp_tokens.",
    )


def test_checkpoint_paging_walks_every_result_in_creation_order(
    http: httpx.Client, container: Container
) -> None:
    ids = seeded(container, 5)
    walked: list[str] = []
    after: int | None = None
    while True:
        params: dict[str, Any] = {"take": 2} if after is None else {"take": 2, "from": after}
        body = search(http, **params).json()
        walked += [user["user_id"] for user in body["users"]]
        if "next" not in body:
            break
        after = body["next"]
    assert walked == ids


def test_checkpoint_paging_cannot_be_sorted(http: httpx.Client) -> None:
    assert search(http, take=2, sort="created_at:1").status_code == 400


def test_a_search_that_overruns_the_timeout_is_503_with_auth0_message(
    http: httpx.Client, container: Container, settings: Settings
) -> None:
    seeded(container, 2000)
    container.search.statement_timeout = 0.0
    if settings.database_url:
        # A table lock held elsewhere keeps the search waiting past its statement timeout.
        with psycopg.connect(settings.database_url) as locker:
            locker.execute(f"LOCK TABLE {USERS_TABLE} IN ACCESS EXCLUSIVE MODE")
            response = search(http, q="user_id:*abc*", include_totals="true")
    else:
        response = search(http, q="user_id:*abc*", include_totals="true")
    assert (response.status_code, response.json()["message"]) == (
        503,
        "The query exceeded the timeout. Please try refining your search criteria. "
        "See https://auth0.com/docs/best-practices/search-best-practices.",
    )


HOSTILE = [
    'name:"\' OR 1=1 --"',
    "'; DROP TABLE search_users; --",
    f"{USERS_TABLE}.key:1",
    "app_metadata.x') OR ('1'='1:y",
    "*a*a*a*a*a*a*a*a*a*a*",
    "name:" + "(" * 500,
    "(" * 200 + "x" + ")" * 200,
    "logins_count:[99999999999999999999999999 TO *]",
    "app_metadata.n:[1e999 TO *]",
    "created_at:[9999-99 TO *]",
    "\x00",
    "name:\u202e\u0000",
    "_exists_:*",
    "name:" + "*" * 100,
    "user_metadata.a:" + "b" * 4000,
    "a:b:c:d",
    "%s %s %s",
    "name:? OR ?",
    "NOT NOT NOT NOT *",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_a_hostile_query_gets_an_answer_never_a_server_error(
    http: httpx.Client, container: Container, q: str
) -> None:
    seeded(container, 3)
    response = search(http, q=q, search_engine="v3")
    assert (response.status_code in (200, 400, 414), search(http).status_code) == (True, 200)
