"""`metaledger rebuild` builds, from position 0, the read model the live projector built."""

from __future__ import annotations

import functools
import re
import sqlite3
from typing import Any

import psycopg

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.api.stores import SEARCH_FILE
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles
from metaledger.domain.user import User
from metaledger.projections.search.documents import user_row
from metaledger.projections.search.fields import COLUMNS
from metaledger.projections.search.projector import Projector, rebuild
from metaledger.projections.search.store import METADATA_TABLE, USERS_TABLE, Batch, SearchStore
from tests.integration.search.conftest import ACTOR, create, found, patch
from tests.support import processes

USER_COLUMNS = ("key", "aggregate_id", "version", *COLUMNS, "state")
Tables = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def tables(settings: Settings) -> Tables:
    """Every row of the read model's tables, in a stable order; without PostgreSQL's slots,
    which number users in the order they are written (compared in test_value_bitmaps)."""
    users = f"SELECT {', '.join(USER_COLUMNS)} FROM {USERS_TABLE} ORDER BY key"
    metadata = f"SELECT path, text, key, num FROM {METADATA_TABLE} ORDER BY path, text, key"
    if settings.database_url:
        with psycopg.connect(settings.database_url) as connection:
            return (
                [tuple(row) for row in connection.execute(users)],
                [tuple(row) for row in connection.execute(metadata)],
            )
    with sqlite3.connect(settings.data_dir / SEARCH_FILE) as connection:
        return list(connection.execute(users)), list(connection.execute(metadata))


def write_and_follow(profiles: UserProfiles, projector: Projector) -> None:
    """A history written while the projector follows it, a few events per batch."""
    for number in range(40):
        user_id = create(
            profiles,
            f"user{number}",
            {"email": f"user{number}@example.com"},
            user_metadata={"addresses": [{"city": "Paris"}, {"city": f"City {number % 4}"}]},
            app_metadata={"plan": "free", "seats": number},
        )
        if number % 2:
            patch(profiles, user_id, app_metadata={"plan": "pro", "roles": ["admin"]})
        if number % 5 == 0:
            profiles.record_login(user_id, "198.51.100.7", "app", ACTOR)
        if number % 7 == 0:
            profiles.delete_user(f"auth0|user{number // 2}", ACTOR)
        projector.catch_up()


def test_a_rebuild_equals_the_incrementally_built_read_model(
    settings: Settings, profiles: UserProfiles, projector: Projector
) -> None:
    projector.batch_size = 3
    write_and_follow(profiles, projector)
    incremental = tables(settings)
    result = processes.run(settings, "rebuild")
    assert (result.returncode, tables(settings)) == (0, incremental)


def test_a_rebuild_reports_its_progress_and_speed(
    settings: Settings, profiles: UserProfiles
) -> None:
    for number in range(5):
        create(profiles, f"user{number}")
    result = processes.run(settings, "rebuild")
    summary = "rebuilt the search read model from 5 events"
    assert ("100%" in result.stderr, summary in result.stderr) == (True, True)
    # The bar and the summary give one rate: events read and folded per second.
    (shown,) = re.findall(r"100%.* ([\d,]+) events/s", result.stderr)
    (summed,) = re.findall(r"read and folded at ([\d,]+) events/s", result.stderr)
    assert shown == summed


def test_a_rebuild_drops_rows_no_event_accounts_for(
    settings: Settings, profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    create(profiles, "real")
    projector.catch_up()
    stray = User(
        user_id="auth0|stray",
        connection=DEFAULT_CONNECTION,
        profile={},
        user_metadata={},
        app_metadata={},
        actor={},
    )
    store.apply(Batch(position=1000, upserts=[user_row(1000, stray, None)]))
    processes.run(settings, "rebuild")
    assert found(store, "*") == {"auth0|real"}


def test_a_rebuild_in_several_passes_equals_the_incremental_read_model(
    settings: Settings, profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    projector.batch_size = 5
    write_and_follow(profiles, projector)
    incremental = tables(settings)
    rebuild(profiles, store, events_per_pass=20)  # ten-odd passes, each a part of the users
    assert tables(settings) == incremental


def test_a_rebuild_with_helper_processes_equals_the_incremental_read_model(
    settings: Settings, profiles: UserProfiles, store: SearchStore, projector: Projector
) -> None:
    projector.batch_size = 5
    write_and_follow(profiles, projector)
    incremental = tables(settings)
    rebuilt = rebuild(
        profiles,
        store,
        events_per_pass=30,  # several parts, shared by this process and two helpers
        open_application=functools.partial(build_profiles, settings, create_tables=False),
        processes=3,
        events_per_process=10,
    )
    assert rebuilt == profiles.recorder.max_notification_id()
    assert tables(settings) == incremental
