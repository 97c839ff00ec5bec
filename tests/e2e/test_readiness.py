"""/readyz: ready when the event store answers and the search and audit read models and the
relay (with publishing on) are within METALEDGER_READY_MAX_LAG_EVENTS of the log; otherwise 503 with
Auth0's error body, naming the part that is not ready, and each part's state."""

from __future__ import annotations

import logging

import httpx
import pytest

from metaledger.api.bootstrap import AuditProjection, Container, SearchProjection, log_retention
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from tests.support.server import RunningServer
from tests.support.users import create_user

ACTOR = Actor(kind="client", id="readiness", grant="client-credentials")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No projector runs: the read model stays where the test leaves it.
    return settings.replace(embedded_workers=False, ready_max_lag_events=1)


def _users(container: Container, count: int) -> None:
    for index in range(count):
        create_user(container.profiles, ACTOR, {"email": f"r{index}@example.com"})


def test_an_up_to_date_service_is_ready_and_says_so_part_by_part(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "position": 0,
        "checks": {
            "store": {"status": "ready", "position": 0},
            "search": {"status": "ready", "position": 0, "lag": 0},
            "audit": {"status": "ready", "position": 0, "lag": 0},
        },
    }


def test_a_read_model_behind_the_threshold_still_counts_as_ready(server: RunningServer) -> None:
    _users(server.container, 1)
    response = httpx.get(f"{server.base_url}/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["search"] == {"status": "ready", "position": 0, "lag": 1}


def test_a_read_model_past_the_threshold_is_named_in_a_503(server: RunningServer) -> None:
    _users(server.container, 2)
    response = httpx.get(f"{server.base_url}/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["statusCode"], body["error"], body["errorCode"]) == (
        503,
        "Service Unavailable",
        "not_ready",
    )
    assert body["message"] == (
        "Not ready: the search read model is 2 events behind the event log (more than 1); "
        "the audit read model is 2 events behind the event log (more than 1)."
    )
    assert body["checks"]["search"] == {"status": "lagging", "position": 0, "lag": 2}
    assert body["checks"]["store"] == {"status": "ready", "position": 2}
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_a_503_is_logged_at_warning_where_the_other_lines_are_left_out(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="metaledger.access")
    _users(server.container, 2)
    httpx.get(f"{server.base_url}/healthz")
    httpx.get(f"{server.base_url}/readyz")
    (line,) = [r for r in caplog.records if r.name == "metaledger.access"]
    assert (line.levelname, line.__dict__["route"], line.__dict__["status"]) == (
        "WARNING",
        "/readyz",
        503,
    )


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_the_read_model_catching_up_makes_the_service_ready_again(
    server: RunningServer,
) -> None:
    _users(server.container, 3)
    assert httpx.get(f"{server.base_url}/readyz").status_code == 503
    container = server.container
    SearchProjection(container.profiles, container.search).service().step()
    assert httpx.get(f"{server.base_url}/readyz").status_code == 503  # audit is behind still
    retention = log_retention(container.settings)
    AuditProjection(container.profiles, container.audit, retention).projector().project_batch()
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200


class TestWithPublishingOn:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        # No relay runs (embedded workers are off): its position stays at 0.
        return settings.replace(kafka_bootstrap_servers="127.0.0.1:9")

    def test_a_relay_past_the_threshold_is_named_too(self, server: RunningServer) -> None:
        _users(server.container, 2)
        response = httpx.get(f"{server.base_url}/readyz")
        assert response.status_code == 503
        assert "the relay is 2 events behind the event log" in response.json()["message"]
        assert response.json()["checks"]["relay"] == {"status": "lagging", "position": 0, "lag": 2}
