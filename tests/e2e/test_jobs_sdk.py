"""Bulk jobs through the official Auth0 Python SDK, unchanged, on both stores: an import, its
failed lines, a login with an imported password, an export read back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from auth0.management import Auth0, NotFoundError

from metaledger.api.auth.clients import PASSWORD_REALM
from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.support.jobs import (
    CONNECTION,
    OLD_PASSWORD,
    bcrypt_hash,
    connection_id_of,
    csv_rows,
    downloaded,
    finished,
    json_file,
)
from tests.support.server import RunningServer

AUDIENCE = "http://metaledger.test/api/v2/"


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


def login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post(
        "/oauth/token",
        json={
            "grant_type": PASSWORD_REALM,
            "client_id": ADMIN_CLIENT_ID,
            "client_secret": ADMIN_CLIENT_SECRET,
            "username": email,
            "password": password,
            "realm": CONNECTION,
            "audience": AUDIENCE,
        },
    )


USERS: list[dict[str, Any]] = [
    {
        "email": "ada@example.com",
        "user_id": "ada",
        "email_verified": True,
        "given_name": "Ada",
        "password_hash": bcrypt_hash(),
        "user_metadata": {"theme": "dark"},
        "app_metadata": {"plan": "pro", "roles": ["admin"]},
    },
    {"email": "bob@example.com", "app_metadata": {"plan": "free"}},
    {"email": "not-an-email", "app_metadata": {"plan": "free"}},
]


def test_the_sdk_imports_users_and_reports_the_failed_line(sdk: Auth0, http: httpx.Client) -> None:
    [connection] = list(sdk.connections.list(name=CONNECTION))
    connection_id = connection.id
    created = sdk.jobs.users_imports.create(
        users=("users.json", json_file(USERS), "application/json"),
        connection_id=connection_id,
        external_id="migration-1",
    )
    assert (created.type, created.status, created.connection_id) == (
        "users_import",
        "pending",
        connection_id,
    )
    finished(http, created.id)

    job = sdk.jobs.get(created.id)
    assert job.status == "completed"
    assert job.summary is not None
    assert (job.summary.inserted, job.summary.updated, job.summary.failed, job.summary.total) == (
        2,
        0,
        1,
        3,
    )
    failed = sdk.jobs.errors.get(created.id)
    assert isinstance(failed, list)
    assert [line.user for line in failed] == [USERS[2]]
    assert failed[0].errors is not None
    assert failed[0].errors[0].code == "INVALID_FORMAT"
    ada = sdk.users.get("auth0|ada")
    assert (ada.email, ada.email_verified, ada.app_metadata) == (
        "ada@example.com",
        True,
        {"plan": "pro", "roles": ["admin"]},
    )


def test_an_imported_user_logs_in_with_the_old_password_which_is_then_rehashed(
    sdk: Auth0, http: httpx.Client
) -> None:
    job = sdk.jobs.users_imports.create(
        users=("users.json", json_file(USERS[:1]), "application/json"),
        connection_id=connection_id_of(http),
    )
    finished(http, job.id)

    assert login(http, "ada@example.com", "wrong password").status_code == 403
    assert login(http, "ada@example.com", OLD_PASSWORD).status_code == 200
    history = http.get("/api/v2/users/auth0|ada/history", params={"event": "UserProfileUpdated"})
    [rehash] = history.json()
    assert rehash["changes"] == {"password": {"old": "[redacted]", "new": "[redacted]"}}
    assert rehash["actor"]["kind"] == "system"
    assert login(http, "ada@example.com", OLD_PASSWORD).status_code == 200


def test_every_imported_event_names_the_import_job_as_its_actor(
    sdk: Auth0, http: httpx.Client
) -> None:
    job = sdk.jobs.users_imports.create(
        users=("users.json", json_file(USERS[:1]), "application/json"),
        connection_id=connection_id_of(http),
    )
    finished(http, job.id)

    events = http.get("/api/v2/users/auth0|ada/history").json()
    assert [(e["event"], e["actor"]["kind"], e["actor"]["id"]) for e in events] == [
        ("UserCreated", "import", job.id)
    ]


def test_the_sdk_exports_users_to_csv_with_dotted_fields(sdk: Auth0, http: httpx.Client) -> None:
    imported = sdk.jobs.users_imports.create(
        users=("users.json", json_file(USERS[:2]), "application/json"),
        connection_id=connection_id_of(http),
    )
    finished(http, imported.id)

    created = sdk.jobs.users_exports.create(
        connection_id=connection_id_of(http),
        format="csv",
        fields=[
            {"name": "email"},
            {"name": "app_metadata.plan", "export_as": "plan"},
            {"name": "user_metadata.theme"},
        ],
    )
    job = finished(http, created.id)

    assert job["status"] == "completed"
    rows = csv_rows(downloaded(http, job["location"]))
    assert sorted(rows, key=lambda row: row["email"]) == [
        {"email": "ada@example.com", "plan": "pro", "user_metadata.theme": "dark"},
        {"email": "bob@example.com", "plan": "free", "user_metadata.theme": ""},
    ]


def test_an_unknown_job_is_not_found_through_the_sdk(sdk: Auth0) -> None:
    with pytest.raises(NotFoundError):
        sdk.jobs.get("job_0000000000000000")
