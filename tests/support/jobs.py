"""Helpers for the bulk-job tests: import files, waiting for a job, reading an export back."""

from __future__ import annotations

import csv
import gzip
import io
import time
from typing import Any

import bcrypt
import httpx
import orjson

CONNECTION = "Username-Password-Authentication"
# Jobs finish within a few seconds here; the bound only keeps a broken runner from hanging.
JOB_DEADLINE_SECONDS = 120
OLD_PASSWORD = "old-system-password"


def bcrypt_hash(password: str = OLD_PASSWORD) -> str:
    """A bcrypt hash as another system made it (the lowest cost keeps the tests fast)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def json_file(users: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(users)


def ndjson_file(users: list[Any], gzipped: bool = False) -> bytes:
    text = b"".join(orjson.dumps(user) + b"\n" for user in users)
    return gzip.compress(text) if gzipped else text


def import_users(
    http: httpx.Client, content: bytes, connection_id: str, **form: str
) -> dict[str, Any]:
    response = http.post(
        "/api/v2/jobs/users-imports",
        data={"connection_id": connection_id, **form},
        files={"users": ("users.json", content, "application/json")},
    )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def connection_id_of(http: httpx.Client, name: str = CONNECTION) -> str:
    found = http.get("/api/v2/connections", params={"name": name}).json()
    assert len(found) == 1, found
    connection_id: str = found[0]["id"]
    return connection_id


def finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once it is completed or failed."""
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while True:
        job: dict[str, Any] = http.get(f"/api/v2/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.05)


def downloaded(http: httpx.Client, location: str) -> bytes:
    """The export at `location` (which names the public issuer), from the server under test."""
    response = http.get(httpx.URL(location).path)
    assert response.status_code == 200, response.text
    return gzip.decompress(response.content)


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def ndjson_rows(content: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in content.splitlines() if line.strip()]
