"""Users imports against the real server on both stores: Auth0's upsert semantics and their
diff in history, refusals line by line or for the whole request, the newline-delimited JSON of
an Auth0 export, idempotent lines."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.imports import UserImporter, line_user_id
from metaledger.domain.jobs import IMPORT, Job
from metaledger.domain.profiles import NewUser
from tests.support.jobs import (
    CONNECTION,
    connection_id_of,
    finished,
    import_users,
    json_file,
    ndjson_file,
)
from tests.support.users import PASSWORD


def imported(http: httpx.Client, content: bytes, **form: str) -> dict[str, Any]:
    """The finished job of importing `content` into the default connection."""
    job = import_users(http, content, connection_id_of(http), **form)
    return finished(http, job["id"])


def errors_of(http: httpx.Client, job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get(f"/api/v2/jobs/{job['id']}/errors").json()
    return found


def codes_of(http: httpx.Client, job: dict[str, Any]) -> list[list[str]]:
    return [[error["code"] for error in line["errors"]] for line in errors_of(http, job)]


def create(http: httpx.Client, user_id: str, email: str, **fields: Any) -> None:
    body = {"connection": CONNECTION, "user_id": user_id, "email": email, "password": PASSWORD}
    response = http.post("/api/v2/users", json={**body, **fields})
    assert response.status_code == 201, response.text


@pytest.fixture
def existing(http: httpx.Client) -> str:
    create(
        http,
        "auth0|kim",
        "kim@example.com",
        given_name="Kim",
        user_metadata={"theme": "dark", "lang": "en"},
        app_metadata={"plan": "free", "roles": ["viewer"]},
    )
    return "auth0|kim"


def test_upsert_overwrites_metadata_rather_than_merging_it(
    http: httpx.Client, existing: str
) -> None:
    job = imported(
        http,
        json_file(
            [
                {
                    "email": "kim@example.com",
                    "given_name": "Kimberly",
                    "user_metadata": {"theme": "dark", "font": "large"},
                    "app_metadata": {"plan": "pro"},
                }
            ]
        ),
        upsert="true",
    )

    assert job["summary"] == {"inserted": 0, "updated": 1, "failed": 0, "total": 1}
    kim = http.get(f"/api/v2/users/{existing}").json()
    assert (kim["given_name"], kim["user_metadata"], kim["app_metadata"]) == (
        "Kimberly",
        {"theme": "dark", "font": "large"},
        {"plan": "pro"},
    )


def test_an_upserts_history_shows_exactly_what_the_import_changed(
    http: httpx.Client, existing: str
) -> None:
    job = imported(
        http,
        json_file(
            [
                {
                    "email": "kim@example.com",
                    "user_metadata": {"theme": "dark", "font": "large"},
                    "app_metadata": {"plan": "pro"},
                }
            ]
        ),
        upsert="true",
    )

    events = http.get(f"/api/v2/users/{existing}/history").json()
    by_import = [e for e in events if e["actor"] == {**e["actor"], "kind": "import"}]
    assert {e["event"]: e["changes"] for e in by_import} == {
        "UserMetadataPatched": {
            "user_metadata.font": {"old": None, "new": "large"},
            "user_metadata.lang": {"old": "en", "new": None},
        },
        "AppMetadataPatched": {
            "app_metadata.plan": {"old": "free", "new": "pro"},
            "app_metadata.roles": {"old": ["viewer"], "new": None},
        },
    }
    assert {e["actor"]["id"] for e in by_import} == {job["id"]}


def test_an_upsert_that_changes_nothing_writes_nothing(http: httpx.Client, existing: str) -> None:
    before = http.get(f"/api/v2/users/{existing}/history").json()
    imported(
        http,
        json_file(
            [
                {
                    "email": "kim@example.com",
                    "user_metadata": {"theme": "dark", "lang": "en"},
                    "app_metadata": {"plan": "free", "roles": ["viewer"]},
                }
            ]
        ),
        upsert="true",
    )

    assert http.get(f"/api/v2/users/{existing}/history").json() == before


def test_without_upsert_an_existing_user_is_a_failed_line_and_the_others_go_on(
    http: httpx.Client, existing: str
) -> None:
    job = imported(
        http,
        json_file(
            [
                {"email": "kim@example.com", "app_metadata": {"plan": "pro"}},
                {"email": "lee@example.com", "user_id": "kim"},
                {"email": "new@example.com"},
            ]
        ),
    )

    assert job["summary"] == {"inserted": 1, "updated": 0, "failed": 2, "total": 3}
    assert codes_of(http, job) == [["DUPLICATED_USER"], ["DUPLICATED_USER"]]
    assert http.get(f"/api/v2/users/{existing}").json()["app_metadata"]["plan"] == "free"
    assert http.get("/api/v2/users-by-email", params={"email": "new@example.com"}).json()


BAD_LINES: list[tuple[dict[str, Any], str]] = [
    ({"user_id": "no-email"}, "OBJECT_MISSING_REQUIRED_PROPERTY"),
    ({"email": "a@example.com", "favourite": "tea"}, "OBJECT_ADDITIONAL_PROPERTIES"),
    ({"email": "b@example.com", "blocked": "yes"}, "INVALID_TYPE"),
    ({"email": "not an email"}, "INVALID_FORMAT"),
    (
        {"email": "c@example.com", "custom_password_hash": {"algorithm": "rot13", "hash": {}}},
        "ENUM_MISMATCH",
    ),
    ({"email": "d@example.com", "password_hash": "plain-text"}, "INVALID_FORMAT"),
    ({"email": "e@example.com", "app_metadata": {"user_id": "x"}}, "INVALID_BODY"),
    ({"email": "f@example.com", "user_metadata": {"a.b": 1}}, "INVALID_BODY"),
]


def test_each_bad_line_is_reported_with_auth0s_code_and_nothing_is_written_for_it(
    http: httpx.Client,
) -> None:
    job = imported(http, json_file([line for line, _ in BAD_LINES]))

    assert job["summary"]["failed"] == len(BAD_LINES)
    assert job["summary"]["inserted"] == 0
    assert [codes[0] for codes in codes_of(http, job)] == [code for _, code in BAD_LINES]
    assert http.get("/api/v2/events", params={"from": 0}).json()["events"] == []


def test_a_second_line_with_a_user_id_of_the_file_conflicts_however_it_is_spelled(
    http: httpx.Client,
) -> None:
    job = imported(
        http,
        json_file(
            [
                {"email": "a@example.com", "user_id": "same"},
                {"email": "b@example.com", "user_id": "auth0|same"},
            ]
        ),
    )

    assert job["summary"]["inserted"] == 1
    assert codes_of(http, job) == [["CONFLICT"]]


def test_a_second_line_with_an_email_of_the_file_conflicts(http: httpx.Client) -> None:
    job = imported(
        http,
        json_file([{"email": "twin@example.com"}, {"email": "TWIN@example.com"}]),
    )

    assert job["summary"]["inserted"] == 1
    assert codes_of(http, job) == [["CONFLICT"]]


def test_an_auth0_export_file_goes_straight_in_gzipped(http: httpx.Client) -> None:
    exported = [
        {
            "user_id": "auth0|5f1e0c0c1c9d440000a1b2c3",
            "email": "ann@example.com",
            "email_verified": True,
            "name": "Ann",
            "created_at": "2020-07-26T10:00:00.000Z",
            "updated_at": "2024-01-01T10:00:00.000Z",
            "logins_count": 12,
            "last_login": "2024-01-01T10:00:00.000Z",
            "identities": [{"connection": CONNECTION, "provider": "auth0", "isSocial": False}],
            "user_metadata": {"theme": "light"},
            "app_metadata": {"plan": "team"},
        },
        {"user_id": "auth0|5f1e0c0c1c9d440000a1b2c4", "email": "ben@example.com"},
    ]
    job = imported(http, ndjson_file(exported, gzipped=True))

    assert job["summary"] == {"inserted": 2, "updated": 0, "failed": 0, "total": 2}
    ann = http.get("/api/v2/users/auth0|5f1e0c0c1c9d440000a1b2c3").json()
    assert (ann["email"], ann["name"], ann["app_metadata"]) == (
        "ann@example.com",
        "Ann",
        {"plan": "team"},
    )


def test_a_line_of_newline_delimited_json_that_is_not_json_is_a_failed_line(
    http: httpx.Client,
) -> None:
    content = b'{"email": "ok@example.com"}\n{"email": \n'
    job = imported(http, content)

    assert job["summary"] == {"inserted": 1, "updated": 0, "failed": 1, "total": 2}
    assert errors_of(http, job) == [
        {
            "user": '{"email": ',
            "errors": [{"code": "INVALID_JSON", "message": "Line is not valid JSON", "path": ""}],
        }
    ]


@pytest.mark.parametrize(
    ("form", "files", "status"),
    [
        ({"connection_id": "con_doesnotexist0000"}, {"users": b"[{}]"}, 400),
        ({}, {"users": b"[{}]"}, 400),
        ({"connection_id": None}, {}, 400),
        ({"connection_id": None}, {"users": b"[{"}, 400),
        ({"connection_id": None}, {"users": b"\x1f\x8b not gzip at all"}, 400),
        ({"connection_id": None}, {"users": b"[]"}, 400),
        ({"connection_id": None, "upsert": "maybe"}, {"users": b"[{}]"}, 400),
        ({"connection_id": None}, {"users": b"[" + b" " * 510 * 1024 + b"]"}, 413),
        ({"connection_id": None}, {"users": b"[" + b" " * 700 * 1024 + b"]"}, 413),
    ],
    ids=[
        "unknown connection",
        "no connection",
        "no file",
        "malformed JSON",
        "corrupt gzip",
        "no users",
        "upsert not a boolean",
        "over the size limit, found reading",
        "over the size limit, found from its length",
    ],
)
def test_a_request_that_cannot_be_an_import_is_refused_whole(
    http: httpx.Client, form: dict[str, str | None], files: dict[str, bytes], status: int
) -> None:
    fields = {k: v or connection_id_of(http) for k, v in form.items()}
    response = http.post(
        "/api/v2/jobs/users-imports",
        data=fields,
        files={name: ("users.json", content) for name, content in files.items()},
    )

    assert response.status_code == status, response.text
    assert set(response.json()) >= {"statusCode", "error", "message"}


def test_imported_users_appear_in_search(http: httpx.Client) -> None:
    imported(http, json_file([{"email": "sam@example.com", "app_metadata": {"plan": "gold"}}]))

    deadline = time.monotonic() + 30
    while not (found := http.get("/api/v2/users", params={"q": 'app_metadata.plan:"gold"'}).json()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [user["email"] for user in found] == ["sam@example.com"]


def test_a_line_applied_before_a_crash_is_not_applied_again(
    container: Container, tmp_path: Any
) -> None:
    assert container.jobs is not None
    path = tmp_path / "users.json"
    path.write_bytes(json_file([{"email": "once@example.com"}, {"email": "twice@example.com"}]))
    job = Job("job_crashtest000000", IMPORT, CONNECTION, time.time(), {"upsert": False})
    container.jobs.store.add(job)
    importer = UserImporter(container.profiles, container.jobs.store)
    importer.run(job, path, time.time)
    # As if the process died after the events were stored but before the checkpoint.
    again = importer.run(job, path, time.time)

    assert (again.inserted, again.updated) == (2, 0)
    assert container.jobs.store.error_count(job.id) == 0
    [user_id] = container.profiles.email_index.user_ids_by_email("once@example.com")
    assert container.profiles.get_user(user_id).version == 1


def test_users_import_into_a_connection_created_through_the_api(http: httpx.Client) -> None:
    created = http.post(
        "/api/v2/connections", json={"name": "partners", "strategy": "auth0", "options": {}}
    )
    assert created.status_code == 201, created.text
    job = import_users(http, json_file([{"email": "pat@example.com"}]), created.json()["id"])
    assert finished(http, job["id"])["summary"]["inserted"] == 1
    found = http.get("/api/v2/users-by-email", params={"email": "pat@example.com"}).json()
    assert [user["identities"][0]["connection"] for user in found] == ["partners"]


def test_lines_checked_in_worker_processes_are_applied_in_file_order(
    container: Container, tmp_path: Any
) -> None:
    assert container.jobs is not None
    old = NewUser(CONNECTION, {"email": "old@example.com"}, user_id="auth0|old")
    container.profiles.create_user(old, Actor(kind="test", id="setup"))
    path = tmp_path / "users.json"
    lines: list[Any] = [
        {"email": "a@example.com", "user_metadata": {"line": 1}},
        {"email": "not-an-email"},
        {"email": "A@example.com"},  # the email of line 1, in the next chunk
        {"email": "old@example.com", "user_id": "auth0|old", "app_metadata": {"plan": "pro"}},
        {"email": "c@example.com", "user_metadata": {"line": 5}},
        "not an object",
    ]
    path.write_bytes(orjson.dumps(lines))
    job = Job("job_workerorder00000", IMPORT, CONNECTION, time.time(), {"upsert": True})
    container.jobs.store.add(job)
    # Two lines a chunk: three chunks, each checked by one of two worker processes.
    importer = UserImporter(container.profiles, container.jobs.store, chunk_size=2, workers=2)

    outcome = importer.run(job, path, time.time)

    assert (outcome.inserted, outcome.updated) == (2, 1)
    failed = container.jobs.store.errors(job.id)
    assert [(line.line, [e.code for e in line.errors]) for line in failed] == [
        (2, ["INVALID_FORMAT"]),
        (3, ["CONFLICT"]),
        (6, ["INVALID_TYPE"]),
    ]
    assert container.profiles.get_user("auth0|old").app_metadata == {"plan": "pro"}
    [user_id] = container.profiles.email_index.user_ids_by_email("c@example.com")
    created = container.profiles.get_user(user_id)
    assert created.user_metadata == {"line": 5}
    assert user_id == line_user_id(job.id, 5)


class Stop(Exception):
    """The job's process stops at a checkpoint."""


def test_a_job_stopped_while_workers_check_ahead_resumes_where_it_stopped(
    container: Container, tmp_path: Any
) -> None:
    assert container.jobs is not None
    path = tmp_path / "users.json"
    path.write_bytes(json_file([{"email": f"u{n}@example.com"} for n in range(1, 9)]))
    job = Job("job_workerstop000000", IMPORT, CONNECTION, time.time(), {"upsert": False})
    container.jobs.store.add(job)
    importer = UserImporter(container.profiles, container.jobs.store, chunk_size=2, workers=2)

    def stop(line: int) -> None:
        raise Stop  # after the first chunk, with later chunks checked or being checked

    with pytest.raises(Stop):
        importer.run(job, path, time.time, stop)
    resumed = container.jobs.store.get(job.id)
    assert resumed is not None
    assert resumed.next_line == 3
    outcome = importer.run(resumed, path, time.time)

    assert (outcome.inserted, outcome.updated) == (8, 0)
    assert container.jobs.store.error_count(job.id) == 0
    for n in range(1, 9):
        [user_id] = container.profiles.email_index.user_ids_by_email(f"u{n}@example.com")
        assert user_id == line_user_id(job.id, n)
