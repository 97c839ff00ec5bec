"""`metaledger serve` with two HTTP processes: an application created through one
process logs a user in through the other at once, without a restart; and a claim named
`user_metadata` (no namespace) starts the service and carries the whole bucket into the ID token
and /userinfo.

SQLite only: the registry's contract shows both stores serving a change to other connections.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest

from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.support.oauth import client_credentials_token
from tests.support.ports import free_port
from tests.support.serve import CLIENT_ID, CLIENT_SECRET, ServeProcess

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
PASSWORD = "Correct-horse-9"
HOBBIES = {"hobby": "kites", "pet": "cat"}
# Enough fresh connections that the kernel hands one to the other process.
ATTEMPTS = 40
LOG_WAIT_SECONDS = 30


@pytest.fixture
def serve(settings: Settings, tmp_path: Path) -> Iterator[ServeProcess]:
    variables = {
        "METALEDGER_CLAIMS": '{"user_metadata": "user_metadata"}',
        "METALEDGER_ARGON2_TIME_COST": "1",
        "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024",
        "METALEDGER_LOG_FORMAT": "json",
    }
    with ServeProcess(settings, free_port(), 2, tmp_path / "serve.log", variables) as running:
        yield running


def served_by(log: Path, request_id: str) -> int:
    """The process id the access log names for the request."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        for line in log.read_text().splitlines():
            if request_id in line and line.startswith("{"):
                entry: dict[str, Any] = orjson.loads(line)
                if entry.get("request_id") == request_id:
                    return int(entry["pid"])
        assert time.monotonic() < deadline, f"no access log line for {request_id}"
        time.sleep(0.05)


def traced(method: str, url: str, **options: Any) -> tuple[httpx.Response, str]:
    """The response to a request on a fresh connection, and the request id it was sent with."""
    request_id = uuid.uuid4().hex
    headers = {**options.pop("headers", {}), "X-Correlation-ID": request_id}
    return httpx.request(method, url, headers=headers, **options), request_id


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_an_application_made_in_one_process_logs_in_through_another_with_its_claims(
    serve: ServeProcess, settings: Settings
) -> None:
    base = serve.base_url
    token = client_credentials_token(base, CLIENT_ID, CLIENT_SECRET, settings.management_audience)
    admin = {"Authorization": f"Bearer {token}"}
    httpx.post(
        f"{base}/api/v2/users",
        headers=admin,
        json={
            "connection": DEFAULT_CONNECTION,
            "email": "kai@example.com",
            "password": PASSWORD,
            "user_metadata": HOBBIES,
        },
    ).raise_for_status()
    created, creation = traced(
        "POST",
        f"{base}/api/v2/clients",
        headers=admin,
        json={"name": "spa", "app_type": "spa", "grant_types": [PASSWORD_REALM]},
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    creator = served_by(serve.log, creation)
    login_form = {
        "grant_type": PASSWORD_REALM,
        "client_id": client_id,
        "username": "kai@example.com",
        "password": PASSWORD,
        "realm": DEFAULT_CONNECTION,
        "scope": "openid",
    }
    for _ in range(ATTEMPTS):
        login, request_id = traced("POST", f"{base}/oauth/token", json=login_form)
        assert login.status_code == 200, login.text
        if served_by(serve.log, request_id) != creator:
            break
    else:
        pytest.fail(f"no login of {ATTEMPTS} reached the other HTTP process")
    tokens = login.json()
    id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert (id_claims["aud"], id_claims["user_metadata"]) == (client_id, HOBBIES)
    userinfo = httpx.get(
        f"{base}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.json()["user_metadata"] == HOBBIES
