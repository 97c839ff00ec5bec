"""History, time travel, the change feed and erasure over HTTP, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from tests.conftest import ADMIN_CLIENT_ID, admin_token
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"


def create(http: httpx.Client, **fields: Any) -> str:
    response = http.post(
        "/api/v2/users", json={"connection": CONNECTION, "password": PASSWORD, **fields}
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["user_id"]
    return user_id


def patch(http: httpx.Client, user_id: str, **body: Any) -> httpx.Response:
    response = http.patch(f"/api/v2/users/{user_id}", json=body)
    assert response.status_code == 200, response.text
    return response


def history(http: httpx.Client, user_id: str, **params: Any) -> Any:
    response = http.get(f"/api/v2/users/{user_id}/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_auth0_error(response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert body["errorCode"] == code
    assert fragment in body["message"]


def token_with(container: Container, *scopes: str) -> dict[str, str]:
    token = container.tokens.issue(
        sub="reader@clients",
        audience=container.settings.management_audience,
        scopes=list(scopes),
        client_id="reader",
        grant="client-credentials",
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user_id(http: httpx.Client) -> str:
    """A user with five events: created, then four patches."""
    user_id = create(http, email="hist@example.com", user_metadata={"hobby": "surfing"})
    patch(http, user_id, app_metadata={"plan": "free"})
    patch(http, user_id, user_metadata={"hobby": "climbing"})
    patch(http, user_id, app_metadata={"plan": "pro", "seats": 3})
    patch(http, user_id, given_name="Hist")
    return user_id


# The actor on every event


def test_the_actor_records_client_grant_request_id_and_source_ip(http: httpx.Client) -> None:
    response = http.post(
        "/api/v2/users",
        json={"connection": CONNECTION, "password": PASSWORD},
        headers={"X-Correlation-ID": "corr-123"},
    )
    assert response.headers["x-correlation-id"] == "corr-123"
    (created,) = history(http, response.json()["user_id"])
    assert created["actor"] == {
        "kind": "client",
        "id": ADMIN_CLIENT_ID,
        "grant": "client-credentials",
        "request_id": "corr-123",
        "ip": "127.0.0.1",
    }


def test_a_generated_request_id_is_returned_and_recorded(http: httpx.Client) -> None:
    response = http.post("/api/v2/users", json={"connection": CONNECTION, "password": PASSWORD})
    generated = response.headers["x-correlation-id"]
    assert generated
    (created,) = history(http, response.json()["user_id"])
    assert created["actor"]["request_id"] == generated


# History


def test_history_lists_the_users_events_newest_first(http: httpx.Client, user_id: str) -> None:
    events = history(http, user_id)
    assert [(e["version"], e["event"]) for e in events] == [
        (5, "UserProfileUpdated"),
        (4, "AppMetadataPatched"),
        (3, "UserMetadataPatched"),
        (2, "AppMetadataPatched"),
        (1, "UserCreated"),
    ]
    assert events[1]["patch"] == {"app_metadata": {"plan": "pro", "seats": 3}}
    assert events[1]["changes"] == {
        "app_metadata.plan": {"old": "free", "new": "pro"},
        "app_metadata.seats": {"old": None, "new": 3},
    }
    assert events[1]["erased"] is False


def test_history_pages_with_totals(http: httpx.Client, user_id: str) -> None:
    body = history(http, user_id, page=1, per_page=2, include_totals="true")
    assert [e["version"] for e in body["events"]] == [3, 2]
    assert (body["start"], body["limit"], body["length"], body["total"]) == (2, 2, 2, 5)


def test_history_pages_past_the_end_are_empty(http: httpx.Client, user_id: str) -> None:
    assert history(http, user_id, page=3, per_page=2) == []


def test_history_walks_checkpoints_with_from_and_take(http: httpx.Client, user_id: str) -> None:
    first = history(http, user_id, take=2)
    second = history(http, user_id, take=2, **{"from": first["next"]})
    last = history(http, user_id, take=2, **{"from": second["next"]})
    pages = [first, second, last]
    assert [[e["version"] for e in page["events"]] for page in pages] == [[5, 4], [3, 2], [1]]
    assert "next" not in last


def test_history_filters_by_event_name(http: httpx.Client, user_id: str) -> None:
    events = history(http, user_id, event="AppMetadataPatched,UserCreated")
    assert [e["version"] for e in events] == [4, 2, 1]


def test_history_filters_by_the_metadata_key_touched(http: httpx.Client, user_id: str) -> None:
    assert [e["version"] for e in history(http, user_id, key="app_metadata.plan")] == [4, 2]
    assert [e["version"] for e in history(http, user_id, key="user_metadata")] == [3, 1]
    assert [e["version"] for e in history(http, user_id, key="given_name")] == [5]


def test_history_filters_by_key_with_totals_and_checkpoints(
    http: httpx.Client, user_id: str
) -> None:
    paged = history(http, user_id, key="app_metadata", per_page=1, include_totals="true")
    assert (paged["total"], [e["version"] for e in paged["events"]]) == (2, [4])
    first = history(http, user_id, key="app_metadata", take=1)
    assert [e["version"] for e in first["events"]] == [4]
    second = history(http, user_id, key="app_metadata", take=1, **{"from": first["next"]})
    assert [e["version"] for e in second["events"]] == [2]


def test_history_filters_by_time_range(http: httpx.Client, user_id: str) -> None:
    times = {e["version"]: e["timestamp"] for e in history(http, user_id)}
    ranged = history(http, user_id, since=times[2], until=times[4])
    assert [e["version"] for e in ranged] == [3, 2]
    assert history(http, user_id, until=times[1]) == []


def test_history_of_a_deleted_user_remains(http: httpx.Client, user_id: str) -> None:
    assert http.delete(f"/api/v2/users/{user_id}").status_code == 204
    newest = history(http, user_id, per_page=1)[0]
    assert (newest["event"], newest["erased"]) == ("UserDeleted", False)
    assert history(http, user_id)[-1]["patch"]["email"] == "hist@example.com"


def test_history_of_an_unknown_user_is_not_found(http: httpx.Client) -> None:
    response = http.get("/api/v2/users/auth0|nobody/history")
    assert_auth0_error(response, 404, "inexistent_user", "does not exist")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"event": "UserRenamed"}, "unknown UserRenamed on property event"),
        ({"since": "yesterday"}, "not an ISO-8601 date-time on property since"),
        ({"page": 0, "take": 5}, "not both"),
        ({"per_page": 101}, "per_page"),
        ({"from": 0}, "from"),
    ],
)
def test_bad_history_queries_get_auth0_errors(
    http: httpx.Client, user_id: str, params: dict[str, Any], fragment: str
) -> None:
    response = http.get(f"/api/v2/users/{user_id}/history", params=params)
    assert_auth0_error(response, 400, "invalid_query_string", fragment)


def test_history_of_a_malformed_user_id_is_refused(http: httpx.Client) -> None:
    assert_auth0_error(http.get("/api/v2/users/nobar/history"), 400, "invalid_uri", "pattern")


# Time travel


def test_a_user_reads_as_of_a_version(http: httpx.Client, user_id: str) -> None:
    response = http.get(f"/api/v2/users/{user_id}", params={"version": 3})
    assert response.status_code == 200
    assert response.headers["x-metaledger-version"] == "3"
    body = response.json()
    assert (body["user_metadata"], body["app_metadata"]) == (
        {"hobby": "climbing"},
        {"plan": "free"},
    )


def test_a_user_reads_as_of_a_moment(http: httpx.Client, user_id: str) -> None:
    times = {e["version"]: e["timestamp"] for e in history(http, user_id)}
    response = http.get(f"/api/v2/users/{user_id}", params={"as_of": times[2]})
    assert response.headers["x-metaledger-version"] == "2"
    assert response.json()["app_metadata"] == {"plan": "free"}
    later = datetime.fromisoformat(times[5]) + timedelta(days=1)
    assert (
        http.get(f"/api/v2/users/{user_id}", params={"as_of": later.isoformat()}).json()[
            "given_name"
        ]
        == "Hist"
    )


def test_time_travel_respects_fields(http: httpx.Client, user_id: str) -> None:
    response = http.get(f"/api/v2/users/{user_id}", params={"version": 1, "fields": "user_id"})
    assert response.json() == {"user_id": user_id}


def test_as_of_before_the_user_existed_is_not_found(http: httpx.Client, user_id: str) -> None:
    created = datetime.fromisoformat(history(http, user_id)[-1]["timestamp"])
    before = (created - timedelta(seconds=1)).isoformat()
    response = http.get(f"/api/v2/users/{user_id}", params={"as_of": before})
    assert_auth0_error(response, 404, "inexistent_user", "did not exist")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"version": 0}, "version"),
        ({"as_of": "soon"}, "as_of"),
        ({"version": 1, "as_of": "2020-01-01T00:00:00Z"}, "not both"),
    ],
)
def test_bad_time_travel_queries_get_auth0_errors(
    http: httpx.Client, user_id: str, params: dict[str, Any], fragment: str
) -> None:
    response = http.get(f"/api/v2/users/{user_id}", params=params)
    assert_auth0_error(response, 400, "invalid_query_string", fragment)


def test_a_version_not_yet_written_is_not_found(http: httpx.Client, user_id: str) -> None:
    response = http.get(f"/api/v2/users/{user_id}", params={"version": 6})
    assert_auth0_error(response, 404, "inexistent_user", "no version 6")


# The change feed


def test_the_feed_pages_through_every_event_in_order(http: httpx.Client) -> None:
    first = create(http, user_metadata={"n": 1})
    second = create(http)
    patch(http, first, user_metadata={"n": 2})
    response = http.get("/api/v2/events", params={"take": 2})
    page = response.json()
    assert response.headers["x-metaledger-next"] == str(page["next"])
    rest = http.get("/api/v2/events", params={"from": page["next"]}).json()
    items = page["events"] + rest["events"]
    assert [(i["user_id"], i["version"]) for i in items] == [(first, 1), (second, 1), (first, 2)]
    assert items[2]["changes"] == {"user_metadata.n": {"old": 1, "new": 2}}
    assert http.get("/api/v2/events", params={"from": rest["next"]}).json() == {
        "events": [],
        "next": rest["next"],
    }


def test_the_feed_filters_by_event_and_user(http: httpx.Client) -> None:
    first = create(http)
    second = create(http)
    patch(http, second, app_metadata={"plan": "pro"})
    patched = http.get("/api/v2/events", params={"event": "AppMetadataPatched"}).json()
    assert [(i["user_id"], i["event"]) for i in patched["events"]] == [
        (second, "AppMetadataPatched")
    ]
    mine = http.get("/api/v2/events", params={"user_id": first}).json()
    assert [i["user_id"] for i in mine["events"]] == [first]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"event": "Nope"}, "unknown Nope"), ({"take": 10_001}, "take"), ({"from": -1}, "from")],
)
def test_bad_feed_queries_get_auth0_errors(
    http: httpx.Client, params: dict[str, Any], fragment: str
) -> None:
    response = http.get("/api/v2/events", params=params)
    assert_auth0_error(response, 400, "invalid_query_string", fragment)


# Erasure


def test_delete_with_erasure_keeps_history_shape_and_frees_the_email(
    http: httpx.Client, user_id: str
) -> None:
    assert http.delete(f"/api/v2/users/{user_id}", params={"erase": "true"}).status_code == 204
    events = history(http, user_id)
    assert [e["version"] for e in events] == [6, 5, 4, 3, 2, 1]
    assert all(e["erased"] for e in events)
    assert all(e["patch"] is None and e["actor"]["id"] == ADMIN_CLIENT_ID for e in events[1:])
    assert "hist@example.com" not in http.get("/api/v2/events", params={"take": 100}).text
    response = http.get(f"/api/v2/users/{user_id}", params={"version": 2})
    assert_auth0_error(response, 404, "inexistent_user", "does not exist")
    assert create(http, email="hist@example.com") != user_id


def test_delete_without_erasure_keeps_the_payloads(http: httpx.Client, user_id: str) -> None:
    assert http.delete(f"/api/v2/users/{user_id}", params={"erase": "false"}).status_code == 204
    assert not any(e["erased"] for e in history(http, user_id))


@pytest.fixture
def erasing_server(settings: Settings) -> Iterator[httpx.Client]:
    """A server whose DELETE erases unless told otherwise."""
    with RunningServer(build_http(settings.replace(erase_on_delete=True))) as running:
        headers = {"Authorization": f"Bearer {admin_token(running.base_url)}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as client:
            yield client


def test_the_configured_default_erases_on_a_plain_delete(erasing_server: httpx.Client) -> None:
    user_id = create(erasing_server, email="default@example.com")
    assert erasing_server.delete(f"/api/v2/users/{user_id}").status_code == 204
    assert all(e["erased"] for e in history(erasing_server, user_id))


def test_the_query_flag_overrides_the_configured_default(erasing_server: httpx.Client) -> None:
    user_id = create(erasing_server, email="kept@example.com")
    response = erasing_server.delete(f"/api/v2/users/{user_id}", params={"erase": "false"})
    assert response.status_code == 204
    assert not any(e["erased"] for e in history(erasing_server, user_id))


# Scopes


@pytest.mark.parametrize("path", ["/api/v2/users/auth0|abc/history", "/api/v2/events"])
def test_the_new_endpoints_require_read_users(
    server: RunningServer, container: Container, path: str
) -> None:
    response = httpx.get(
        server.base_url + path,
        headers=token_with(container, "read:current_user", "update:users"),
    )
    assert_auth0_error(response, 403, "insufficient_scope", "expected any of: read:users")


@pytest.mark.parametrize("path", ["/api/v2/users/auth0|abc/history", "/api/v2/events"])
def test_the_new_endpoints_require_a_token(server: RunningServer, path: str) -> None:
    assert httpx.get(server.base_url + path).status_code == 401


def test_a_read_users_token_reads_the_feed(server: RunningServer, container: Container) -> None:
    response = httpx.get(
        f"{server.base_url}/api/v2/events", headers=token_with(container, "read:users")
    )
    assert response.status_code == 200
