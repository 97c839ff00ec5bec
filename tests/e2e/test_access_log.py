"""Each request leaves one access-log line: method, path, route template, status, duration,
request id and actor, and never the query string or a token."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.support.server import RunningServer


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_a_request_leaves_one_line_with_its_status_request_id_and_actor(
    server: RunningServer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="metaledger.access")
    response = httpx.get(
        f"{server.base_url}/api/v2/users/auth0|nobody",
        params={"fields": "email", "access_token": "secret-in-a-url"},
        headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "trace-7"},
    )
    assert response.status_code == 404
    (line,) = [r for r in caplog.records if r.name == "metaledger.access"]
    assert line.getMessage().startswith("GET /api/v2/users/auth0|nobody 404 ")
    assert line.getMessage().endswith("ms request trace-7 by test-admin")
    assert "secret-in-a-url" not in line.getMessage()
    assert token not in line.getMessage()


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_the_line_names_the_route_template_rather_than_the_path(
    server: RunningServer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="metaledger.access")
    httpx.get(
        f"{server.base_url}/api/v2/users/auth0|someone",
        headers={"Authorization": f"Bearer {token}"},
    )
    httpx.get(f"{server.base_url}/no/such/page")
    routed, unmatched = [r for r in caplog.records if r.name == "metaledger.access"]
    assert routed.__dict__["route"] == "/api/v2/users/{id}"
    assert routed.__dict__["actor"] == "test-admin"
    assert (unmatched.__dict__["route"], unmatched.__dict__["status"]) == ("unmatched", 404)
    assert unmatched.__dict__["actor"] is None
