"""Where the projector runs, and where the read model lives."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from metaledger.api.stores import SEARCH_FILE
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.lease import PROJECTOR, LeasedService
from metaledger.projections.search.projector import ProjectorService
from metaledger.projections.search.store import USERS_TABLE, SearchStore
from tests.integration.search.conftest import create
from tests.support import processes


def test_serve_runs_the_projector_in_process_by_default(container: Container) -> None:
    # On PostgreSQL, while this node holds the projector lease (other nodes may share it).
    assert any(
        isinstance(service, ProjectorService)
        or (isinstance(service, LeasedService) and service.lease.name == PROJECTOR)
        for service in container.background
    )


def test_without_embedded_workers_serve_leaves_projecting_to_its_own_process(
    settings: Settings,
) -> None:
    container = build_http(settings.replace(embedded_workers=False))
    assert not any(isinstance(service, ProjectorService) for service in container.background)


def test_embedded_workers_can_be_turned_off_by_environment() -> None:
    settings = Settings.from_env({"METALEDGER_EMBEDDED_WORKERS": "false"})
    assert settings.embedded_workers is False


def test_the_read_model_lives_apart_from_the_event_store(
    settings: Settings, container: Container
) -> None:
    if settings.database_url:
        with psycopg.connect(settings.database_url) as connection:
            row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (USERS_TABLE,))
            assert row.fetchone() == (True,)
    else:
        tables = "SELECT name FROM sqlite_master WHERE name = ?"
        with sqlite3.connect(settings.data_dir / SEARCH_FILE) as search:
            in_search = search.execute(tables, (USERS_TABLE,)).fetchall()
        with sqlite3.connect(settings.data_dir / "events.sqlite3") as events:
            in_events = events.execute(tables, (USERS_TABLE,)).fetchall()
        assert (in_search, in_events) == ([(USERS_TABLE,)], [])


def test_the_project_command_follows_the_log_and_stops_on_sigterm(
    settings: Settings, profiles: UserProfiles, store: SearchStore, tmp_path: Path
) -> None:
    create(profiles, "jane")
    process = processes.start(settings, "project", log=tmp_path / "project.log")
    deadline = time.monotonic() + 60
    while store.position() != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.terminate()
    assert (store.position(), process.wait(timeout=30)) == (1, 0)


def test_the_servers_export_jobs_read_its_read_model(container: Container) -> None:
    assert container.jobs is not None
    assert container.jobs.runner.export_source.search is container.search
