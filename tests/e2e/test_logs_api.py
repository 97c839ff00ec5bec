"""`GET /api/v2/logs`, `/logs/{id}`, `/users/{id}/logs` and `/audit/changes` over HTTP: Auth0's
shapes and refusals, checkpoints, field selection, scopes and the CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.conftest import admin_token
from tests.support.audit import audit_caught_up
from tests.support.server import RunningServer
from tests.support.users import PASSWORD


def create(http: httpx.Client, email: str, **app_metadata: Any) -> str:
    body = {
        "connection": DEFAULT_CONNECTION,
        "email": email,
        "password": PASSWORD,
        "app_metadata": app_metadata,
    }
    created = http.post("/api/v2/users", json=body)
    assert created.status_code == 201, created.text
    user_id: str = created.json()["user_id"]
    return user_id


@pytest.fixture
def users(http: httpx.Client, container: Container) -> list[str]:
    user_ids = [create(http, f"user{n}@example.com", plan="free") for n in range(3)]
    for user_id in user_ids:
        http.patch(f"/api/v2/users/{user_id}", json={"app_metadata": {"plan": "pro"}})
    audit_caught_up(container)
    return user_ids


def test_checkpoints_walk_every_record_once_oldest_first(
    http: httpx.Client, users: list[str]
) -> None:
    walked: list[str] = []
    after = ""
    while page := http.get("/api/v2/logs", params={"from": after, "take": 2}).json():
        walked += [record["log_id"] for record in page]
        after = page[-1]["log_id"]

    everything = http.get("/api/v2/logs", params={"per_page": 100}).json()
    assert walked == sorted(walked) == sorted(record["log_id"] for record in everything)


def test_totals_and_selected_fields(http: httpx.Client, users: list[str]) -> None:
    page = http.get(
        "/api/v2/logs",
        params={"q": "type:sapi", "per_page": 2, "include_totals": "true", "fields": "type"},
    ).json()

    # The token exchange of the test's token is a record too, of another type.
    assert (page["start"], page["limit"], page["length"], page["total"]) == (0, 2, 2, 6)
    assert page["logs"] == [{"type": "sapi"}, {"type": "sapi"}]


def test_a_users_logs_are_their_events(http: httpx.Client, users: list[str]) -> None:
    records = http.get(f"/api/v2/users/{users[0]}/logs", params={"sort": "date:1"}).json()

    assert [(r["type"], r["description"]) for r in records] == [
        ("sapi", "Create a User"),
        ("sapi", "Update a User"),
    ]


def test_a_record_reads_back_by_id_and_an_unknown_id_is_404(
    http: httpx.Client, users: list[str]
) -> None:
    [latest] = http.get("/api/v2/logs", params={"per_page": 1}).json()

    assert http.get(f"/api/v2/logs/{latest['log_id']}").json() == latest
    missing = http.get("/api/v2/logs/00000000000000000")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "inexistent_log")


@pytest.mark.parametrize(
    "params",
    [
        {"q": "type:(sapi"},
        {"q": "unknown_field:x"},
        {"q": "details.a..b:x"},
        {"sort": "user_metadata:1"},
        {"from": "1", "take": "0"},
        {"per_page": "101"},
    ],
)
def test_a_bad_log_query_is_400_and_recorded_as_fapi(
    http: httpx.Client, server: RunningServer, container: Container, params: dict[str, str]
) -> None:
    refused = http.get("/api/v2/logs", params=params)

    assert refused.status_code == 400
    assert set(refused.json()) == {"statusCode", "error", "message", "errorCode"}
    audit_caught_up(container)
    assert (
        http.get("/api/v2/logs", params={"q": "type:fapi"}).json()[0]["details"]["request"]["path"]
        == "/api/v2/logs"
    )


def test_logs_need_the_read_logs_scope(server: RunningServer) -> None:
    token = admin_token(server.base_url, scope="read:users")
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v2/logs", "/api/v2/audit/changes", "/api/v2/logs/1"):
        refused = httpx.get(f"{server.base_url}{path}", headers=headers)
        assert (refused.status_code, refused.json()["errorCode"]) == (403, "insufficient_scope")


def test_changes_page_with_before_and_the_next_header(http: httpx.Client, users: list[str]) -> None:
    seen: list[tuple[str, Any]] = []
    params: dict[str, Any] = {"key": "app_metadata.plan", "take": 4}
    while True:
        page = http.get("/api/v2/audit/changes", params=params)
        body = page.json()
        seen += [(c["user_id"], c["new"]) for c in body["changes"]]
        if "next" not in body:
            assert "x-metaledger-next" not in page.headers
            break
        assert page.headers["x-metaledger-next"] == body["next"]
        params["before"] = body["next"]

    assert sorted(seen) == sorted([(u, "free") for u in users] + [(u, "pro") for u in users])
    assert [new for _, new in seen[:3]] == ["pro", "pro", "pro"]  # newest first


def test_changes_filter_by_old_value_and_time(http: httpx.Client, users: list[str]) -> None:
    upgraded = http.get("/api/v2/audit/changes", params={"from": "free", "to": "pro"}).json()
    future = http.get("/api/v2/audit/changes", params={"since": "2999-01-01T00:00:00Z"}).json()

    assert sorted(c["user_id"] for c in upgraded["changes"]) == sorted(users)
    assert future == {"changes": []}


@pytest.mark.parametrize(
    "params",
    [
        {"before": "not-a-cursor"},
        {"since": "yesterday"},
        {"take": "0"},
        {"to": "ad\x00min"},
        {"from": "\x00"},
        {"key": "app_metadata.\x00"},
    ],
)
def test_bad_change_filters_are_400(http: httpx.Client, params: dict[str, str]) -> None:
    refused = http.get("/api/v2/audit/changes", params=params)

    assert (refused.status_code, refused.json()["errorCode"]) == (400, "invalid_query_string")


def test_the_csv_export_cannot_run_as_a_spreadsheet_formula(
    http: httpx.Client, container: Container
) -> None:
    user_id = create(http, "ada@example.com")
    http.patch(
        f"/api/v2/users/{user_id}",
        json={"user_metadata": {"bio": "=HYPERLINK(1)"}},
        headers={"X-Correlation-ID": "=cmd|' /C calc'!A0"},
    )
    audit_caught_up(container)

    exported = http.get(
        "/api/v2/audit/changes",
        params={"key": "user_metadata.bio"},
        headers={"Accept": "text/csv"},
    )

    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (row["new"], row["request_id"]) == ('"=HYPERLINK(1)"', "'=cmd|' /C calc'!A0")


def test_min_position_waits_for_ones_own_write(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/users",
        json={"connection": DEFAULT_CONNECTION, "email": "ada@example.com", "password": PASSWORD},
    )
    user_id, position = created.json()["user_id"], created.headers["x-metaledger-position"]

    changes = http.get(
        "/api/v2/audit/changes", params={"user_id": user_id, "min_position": position}
    ).json()
    records = http.get(
        "/api/v2/logs", params={"q": f'user_id:"{user_id}"', "min_position": position}
    ).json()

    assert "email" in {change["key"] for change in changes["changes"]}
    assert [record["type"] for record in records] == ["sapi"]


def test_a_min_position_past_the_end_of_the_log_is_400_at_once(http: httpx.Client) -> None:
    for path in ("/api/v2/audit/changes", "/api/v2/logs"):
        refused = http.get(path, params={"min_position": 10**12})
        assert (refused.status_code, refused.json()["errorCode"]) == (400, "invalid_query_string")


def test_a_checkpoint_page_ignores_sort_and_totals_as_auth0_does(
    http: httpx.Client, users: list[str]
) -> None:
    plain = http.get("/api/v2/logs", params={"from": "", "take": 3}).json()
    sent_by_an_sdk = http.get(
        "/api/v2/logs",
        params={"from": "", "take": 3, "include_totals": "true", "sort": "date:-1", "page": 2},
    ).json()

    assert sent_by_an_sdk == plain
    assert [r["log_id"] for r in plain] == sorted(r["log_id"] for r in plain)
