"""What `metaledger serve` writes to its log when no terminal is attached: one JSON object a
line, one line per request with its route, status, duration, request id and actor, one per
background batch, and never a password, a password hash, a client secret or a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from metaledger.api.settings import Settings
from tests.support.ports import free_port
from tests.support.serve import CLIENT_SECRET, ServeProcess
from tests.support.telemetry import SPA_CLIENT_ID, VARIABLES, Workload, run_workload

SIGNUP_PASSWORD = "Signup-secret-horse-73"


@pytest.fixture
def logged(settings: Settings, tmp_path: Path) -> tuple[list[str], list[str]]:
    """The log lines of a serve (at DEBUG, where the most is said) that ran a workload full of
    secrets, and those secrets."""
    log = tmp_path / "serve.log"
    workload = Workload(health_checks=2)
    variables = {**VARIABLES, "METALEDGER_LOG_LEVEL": "DEBUG"}
    with ServeProcess(settings, free_port(), 2, log, variables) as serve:
        run_workload(serve, workload)
        base = serve.base_url
        signup = httpx.post(
            f"{base}/dbconnections/signup",
            json={
                "client_id": SPA_CLIENT_ID,
                "email": "sig@example.com",
                "password": SIGNUP_PASSWORD,
                "connection": "Username-Password-Authentication",
            },
        )
        assert signup.status_code == 200, signup.text
        # Secrets where they do not belong: in a query string, in a malformed body.
        httpx.get(f"{base}/api/v2/users", params={"access_token": workload.secrets[0]})
        httpx.post(f"{base}/oauth/token", content=f'{{"client_secret": "{CLIENT_SECRET}"')
    return log.read_text().splitlines(), [*workload.secrets, SIGNUP_PASSWORD, CLIENT_SECRET]


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_every_line_is_a_json_object_with_a_level_and_a_message(
    logged: tuple[list[str], list[str]],
) -> None:
    lines, _ = logged
    assert len(lines) > 20
    assert [line for line in lines if not _is_json_object(line)] == []
    for line in lines:
        assert {"time", "level", "logger", "pid", "message"} <= set(orjson.loads(line)), line


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_no_line_holds_a_password_hash_secret_or_token(
    logged: tuple[list[str], list[str]],
) -> None:
    lines, secrets = logged
    leaks = [(secret, line) for line in lines for secret in secrets if secret in line]
    assert leaks == []


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_each_request_has_one_line_with_route_status_duration_request_id_and_actor(
    logged: tuple[list[str], list[str]],
) -> None:
    requests = _lines(logged[0], "metaledger.access")
    patches = [line for line in requests if line["method"] == "PATCH"]
    assert len(patches) == Workload().patches
    for line in patches:
        assert line["route"] == "/api/v2/users/{id}"
        assert (line["status"], line["actor"]) == (200, "serve-admin")
        assert line["duration_ms"] > 0
        assert len(line["request_id"]) == 32
    assert len([line for line in requests if line["route"] == "/healthz"]) == 2


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_the_search_projector_logs_each_batch(logged: tuple[list[str], list[str]]) -> None:
    batches = [
        line
        for line in _lines(logged[0], "metaledger.background")
        if line.get("follower") == "search-projector"
    ]
    assert batches
    assert all(line["events"] > 0 and line["level"] == "INFO" for line in batches)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _lines(lines: list[str], logger: str) -> list[dict[str, Any]]:
    parsed = [orjson.loads(line) for line in lines]
    return [line for line in parsed if line["logger"] == logger]
