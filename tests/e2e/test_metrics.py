"""/metrics of `metaledger serve` with two HTTP processes: after a known workload the counts
are the workload's, added up over the processes; the positions and lags are the store's."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from tests.support import processes
from tests.support.jobs import connection_id_of, finished, import_users, json_file
from tests.support.kafka_broker import KafkaBroker
from tests.support.ports import free_port
from tests.support.serve import ServeProcess
from tests.support.stream import publishing
from tests.support.telemetry import MAX_ATTEMPTS, VARIABLES, Workload, run_workload, scrape, value
from tests.support.users import create_user

HTTP_PROCESSES = 2
ACTOR = Actor(kind="client", id="metrics-client", grant="client-credentials")
CATCH_UP_SECONDS = 30


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def serve(settings: Settings, tmp_path: Path, metrics_port: int) -> ServeProcess:
    variables = {**VARIABLES, "METALEDGER_METRICS_PORT": str(metrics_port)}
    return ServeProcess(settings, free_port(), HTTP_PROCESSES, tmp_path / "serve.log", variables)


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_two_http_processes_add_up_to_the_workload(serve: ServeProcess, metrics_port: int) -> None:
    workload = Workload()
    with serve:
        run_workload(serve, workload)
        samples = scrape(metrics_port)
        health_pids = _pids_of(serve.log, "/healthz")
    requests = "metaledger_http_requests_total"
    assert value(samples, requests, method="GET", route="/healthz", status="200") == 20
    assert len(health_pids) == HTTP_PROCESSES  # both processes answered some of them
    patch = {"method": "PATCH", "route": "/api/v2/users/{id}", "status": "200"}
    assert value(samples, requests, **patch) == workload.patches
    assert value(samples, "metaledger_http_request_duration_seconds_count", **patch) == 3
    assert value(samples, "metaledger_logins_total", outcome="success") == workload.logins
    assert value(samples, "metaledger_logins_total", outcome="wrong_credentials") == MAX_ATTEMPTS
    assert value(samples, "metaledger_logins_total", outcome="too_many_attempts") == 1


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_an_import_job_reports_its_lines_and_how_it_ended(
    serve: ServeProcess, metrics_port: int
) -> None:
    users = [{"email": f"job-{index}@example.com"} for index in range(3)]
    with serve:
        admin = {"Authorization": f"Bearer {serve.token()}"}
        with httpx.Client(base_url=serve.base_url, headers=admin) as http:
            job = import_users(http, json_file(users), connection_id_of(http))
            assert finished(http, job["id"])["status"] == "completed"
        samples = scrape(metrics_port)
    assert value(samples, "metaledger_jobs_total", type="users_import", status="completed") == 1
    assert value(samples, "metaledger_job_lines", type="users_import") == len(users)


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_every_event_written_is_counted_and_followed_by_the_search_projector(
    serve: ServeProcess, metrics_port: int
) -> None:
    with serve:
        run_workload(serve, Workload(health_checks=0))
        samples = _caught_up(metrics_port)
    end = value(samples, "metaledger_event_log_position")
    assert end > 0
    assert value(samples, "metaledger_event_store_events_total") == end
    assert value(samples, "metaledger_event_store_commit_saves_count") >= 1
    follower = {"follower": "search-projector"}
    assert value(samples, "metaledger_follower_position", **follower) == end
    assert value(samples, "metaledger_follower_events_total", **follower) == end


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_with_publishing_on_the_relays_position_and_batches_follow_the_log(
    settings: Settings, kafka_broker: KafkaBroker, tmp_path: Path, metrics_port: int
) -> None:
    variables = {**VARIABLES, "METALEDGER_METRICS_PORT": str(metrics_port)}
    published = publishing(settings, kafka_broker)
    with ServeProcess(published, free_port(), 1, tmp_path / "serve.log", variables) as serve:
        run_workload(serve, Workload(health_checks=0))
        samples = _caught_up(metrics_port, follower="relay")
    end = value(samples, "metaledger_event_log_position")
    relay = {"follower": "relay"}
    assert value(samples, "metaledger_follower_position", **relay) == end
    assert value(samples, "metaledger_follower_events_total", **relay) == end
    assert value(samples, "metaledger_follower_failures_total", **relay) == 0


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_unknown_methods_and_paths_share_one_series(serve: ServeProcess, metrics_port: int) -> None:
    with serve:
        statuses = {
            httpx.request(method, f"{serve.base_url}{path}").status_code
            for method, path in (("PROPFIND", "/a"), ("MKCOL", "/b/c"), ("PROPFIND", "/d"))
        }
        samples = scrape(metrics_port)
    assert statuses == {404}
    series = [
        labels
        for (name, labels) in samples
        if name == "metaledger_http_requests_total" and ("route", "unmatched") in labels
    ]
    assert series == [frozenset({("method", "OTHER"), ("route", "unmatched"), ("status", "404")})]


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_a_projector_of_its_own_serves_its_position_and_batches_when_given_a_port(
    settings: Settings, metrics_port: int, tmp_path: Path
) -> None:
    profiles = build_profiles(settings)
    for index in range(2):
        create_user(profiles, ACTOR, {"email": f"p{index}@example.com"})
    profiles.close()
    project = processes.start(
        settings.replace(metrics_port=metrics_port), "project", log=tmp_path / "project.log"
    )
    try:
        samples = _caught_up(metrics_port, lambda: project.poll() is None)
    finally:
        project.terminate()
        project.wait()
    follower = {"follower": "search-projector"}
    assert value(samples, "metaledger_follower_position", **follower) == 2
    assert value(samples, "metaledger_follower_events_total", **follower) == 2


def _caught_up(
    port: int, running: Callable[[], bool] = lambda: True, follower: str = "search-projector"
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples once the follower has every event (the metrics server may still be
    starting)."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        assert running(), "the process serving the metrics stopped"
        with contextlib.suppress(httpx.TransportError):
            samples = dict(scrape(port))
            lag = ("metaledger_follower_lag_events", frozenset({("follower", follower)}))
            if samples.get(lag) == 0 and value(samples, "metaledger_event_log_position") > 0:
                return samples
        assert time.monotonic() < deadline, f"{follower} did not catch up"
        time.sleep(0.1)


def _pids_of(log: Path, route: str) -> set[int]:
    """The processes whose access log has a line for `route`."""
    lines = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {line["pid"] for line in lines if line.get("route") == route}
