"""Users exports against the real server on both stores: both formats with dotted fields read
back, `as_of`, who may download and for how long, and an import → export → import round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import build_http
from metaledger.api.settings import Settings
from tests.conftest import admin_token
from tests.support.jobs import (
    connection_id_of,
    csv_rows,
    downloaded,
    finished,
    import_users,
    json_file,
    ndjson_rows,
)
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer

USERS: list[dict[str, Any]] = [
    {
        "email": "ada@example.com",
        "user_id": "ada",
        "given_name": "Ada",
        "user_metadata": {"theme": "dark", "address": {"city": "London"}},
        "app_metadata": {"plan": "pro", "roles": ["admin", "billing"]},
    },
    {"email": "bob@example.com", "user_id": "bob", "app_metadata": {"plan": "free"}},
    {"email": "cy@example.com", "user_id": "cy", "blocked": True},
]
FIELDS = [
    {"name": "user_id"},
    {"name": "email", "export_as": "Email"},
    {"name": "user_metadata.address.city", "export_as": "city"},
    {"name": "app_metadata.plan"},
    {"name": "app_metadata.roles", "export_as": "roles"},
]


def load(http: httpx.Client, users: list[dict[str, Any]]) -> None:
    job = import_users(http, json_file(users), connection_id_of(http))
    assert finished(http, job["id"])["summary"]["failed"] == 0


def export(http: httpx.Client, **body: Any) -> bytes:
    response = http.post("/api/v2/jobs/users-exports", json=body)
    assert response.status_code == 201, response.text
    job = finished(http, response.json()["id"])
    assert job["status"] == "completed", job
    return downloaded(http, job["location"])


def test_a_json_export_holds_the_named_fields_under_their_export_names(
    http: httpx.Client,
) -> None:
    load(http, USERS)

    rows = ndjson_rows(export(http, format="json", fields=FIELDS))

    assert sorted(rows, key=lambda row: row["user_id"]) == [
        {
            "user_id": "auth0|ada",
            "Email": "ada@example.com",
            "city": "London",
            "app_metadata.plan": "pro",
            "roles": ["admin", "billing"],
        },
        {
            "user_id": "auth0|bob",
            "Email": "bob@example.com",
            "city": None,
            "app_metadata.plan": "free",
            "roles": None,
        },
        {
            "user_id": "auth0|cy",
            "Email": "cy@example.com",
            "city": None,
            "app_metadata.plan": None,
            "roles": None,
        },
    ]


def test_a_csv_export_writes_text_as_is_other_values_as_json_and_null_as_nothing(
    http: httpx.Client,
) -> None:
    load(http, USERS)

    rows = csv_rows(export(http, format="csv", fields=FIELDS))

    assert sorted(rows, key=lambda row: row["user_id"])[0] == {
        "user_id": "auth0|ada",
        "Email": "ada@example.com",
        "city": "London",
        "app_metadata.plan": "pro",
        "roles": '["admin","billing"]',
    }
    assert sorted(rows, key=lambda row: row["user_id"])[1]["roles"] == ""


def test_a_csv_export_without_fields_has_auth0s_default_columns(http: httpx.Client) -> None:
    load(http, USERS[:1])

    [row] = csv_rows(export(http, format="csv"))

    assert (row["user_id"], row["given_name"], row["app_metadata"]) == (
        "auth0|ada",
        "Ada",
        '{"plan":"pro","roles":["admin","billing"]}',
    )


def test_limit_caps_the_users_exported(http: httpx.Client) -> None:
    load(http, USERS)

    assert len(ndjson_rows(export(http, limit=2))) == 2


def test_as_of_exports_everyone_as_they_were_then(http: httpx.Client) -> None:
    load(http, USERS[:2])
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)  # the patch below is recorded strictly after `moment`
    http.patch("/api/v2/users/auth0|ada", json={"app_metadata": {"plan": "enterprise"}})
    load(http, [{"email": "late@example.com"}])

    rows = ndjson_rows(export(http, as_of=moment, fields=[{"name": "app_metadata.plan"}]))

    assert sorted(row["app_metadata.plan"] for row in rows) == ["free", "pro"]


def test_a_deleted_user_is_not_exported(http: httpx.Client) -> None:
    load(http, USERS[:2])
    http.delete("/api/v2/users/auth0|bob")

    assert [row["user_id"] for row in ndjson_rows(export(http))] == ["auth0|ada"]


def test_an_export_is_downloaded_only_with_a_token_that_reads_users(
    http: httpx.Client, server: RunningServer
) -> None:
    load(http, USERS[:1])
    response = http.post("/api/v2/jobs/users-exports", json={})
    location = finished(http, response.json()["id"])["location"]
    narrow = admin_token(server.base_url, scope="create:users")

    refused = httpx.get(
        f"{server.base_url}{httpx.URL(location).path}",
        headers={"Authorization": f"Bearer {narrow}"},
    )

    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "insufficient_scope"


def test_an_expired_export_is_gone(http: httpx.Client, server: RunningServer) -> None:
    load(http, USERS[:1])
    response = http.post("/api/v2/jobs/users-exports", json={})
    job = finished(http, response.json()["id"])
    jobs = server.container.jobs
    assert jobs is not None
    jobs.runner.expiry_seconds = 0
    deadline = time.monotonic() + 30
    while (download := http.get(httpx.URL(job["location"]).path)).status_code == 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    assert download.status_code == 404
    assert http.get(f"/api/v2/jobs/{job['id']}").json()["status"] == "expired"


@pytest.fixture
def fresh_server(
    settings: Settings, request: pytest.FixtureRequest, tmp_path: Any
) -> Iterator[httpx.Client]:
    """A second server on an empty store of the same backend."""
    postgres: PostgresServer | None = None
    database = None
    if settings.database_url is not None:
        postgres = request.getfixturevalue("postgres_server")
        database = postgres.create_database()
    database_url = postgres.url(database) if postgres and database else None
    other = settings.replace(data_dir=tmp_path / "fresh", database_url=database_url)
    with RunningServer(build_http(other)) as running:
        headers = {"Authorization": f"Bearer {admin_token(running.base_url)}"}
        with httpx.Client(base_url=running.base_url, headers=headers) as client:
            yield client
    if postgres and database:
        postgres.drop_database(database)


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The users without what a store sets itself (times, counts)."""
    kept = [
        {k: v for k, v in row.items() if k not in ("created_at", "updated_at", "logins_count")}
        for row in rows
    ]
    return sorted(kept, key=lambda row: row["user_id"])


def test_import_export_import_round_trips_every_user(
    http: httpx.Client, fresh_server: httpx.Client
) -> None:
    load(http, USERS)
    first = export(http, format="json")

    job = import_users(fresh_server, first, connection_id_of(fresh_server))
    assert finished(fresh_server, job["id"])["summary"]["inserted"] == len(USERS)
    second = export(fresh_server, format="json")

    assert comparable(ndjson_rows(second)) == comparable(ndjson_rows(first))
