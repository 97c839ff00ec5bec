"""`metaledger history USER_ID` prints the user's timeline."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from rich.console import Console

from metaledger.api.cli.history import newest_entries, run, write_timeline
from metaledger.api.cli.main import parser
from metaledger.api.settings import Settings
from metaledger.domain.history import UserHistory
from metaledger.domain.profiles import UserProfiles
from tests.integration.history.conftest import ACTOR, create, patch

Timeline = Callable[..., str]


@pytest.fixture
def timeline(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Timeline:
    """What `metaledger history ARGV...` prints."""

    def show(*argv: str) -> str:
        assert run(settings, parser().parse_args(["history", *argv])) == 0
        return capsys.readouterr().out

    return show


def test_the_timeline_lists_events_oldest_first_with_their_changes(
    profiles: UserProfiles, timeline: Timeline
) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing"})
    patch(profiles, user_id, user_metadata={"hobby": "climbing", "color": None})
    out = timeline(user_id, "--color", "never")
    assert f"{user_id}  (2 events)" in out
    assert out.index("v1 ") < out.index("v2 ")
    assert '+ user_metadata.hobby: "surfing"' in out
    assert '~ user_metadata.hobby: "surfing" → "climbing"' in out
    assert "by client history-client (client-credentials) request req-7 from 10.1.2.3" in out
    assert "\033[" not in out


def test_the_timeline_colours_diffs_when_asked(profiles: UserProfiles, timeline: Timeline) -> None:
    user_id = create(profiles, app_metadata={"plan": "free"})
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    out = timeline(user_id, "--color", "always")
    assert '\033[31m"free"\033[0m → \033[32m"pro"\033[0m' in out


def test_the_timeline_can_show_only_the_last_events(
    profiles: UserProfiles, timeline: Timeline
) -> None:
    user_id = create(profiles)
    for number in range(4):
        patch(profiles, user_id, app_metadata={"n": number})
    out = timeline(user_id, "--limit", "2", "--color", "never")
    assert "(the last 2 of 5)" in out
    assert "v5 " in out
    assert "v3 " not in out


def test_an_erased_users_timeline_marks_payloads_erased(
    profiles: UserProfiles, timeline: Timeline
) -> None:
    user_id = create(profiles, {"email": "gone@example.com"})
    profiles.delete_user(user_id, ACTOR, erase=True)
    out = timeline(user_id, "--color", "never")
    assert "UserCreated (erased)" in out
    assert "[payload erased]" in out
    assert "gone@example.com" not in out


def test_an_unknown_user_is_an_error(
    profiles: UserProfiles, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, parser().parse_args(["history", "auth0|nobody"])) == 1
    assert "no user auth0|nobody" in capsys.readouterr().err


def test_history_never_creates_a_store_and_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = Settings(data_dir=tmp_path / "nothing-here")
    assert run(elsewhere, parser().parse_args(["history", "auth0|somebody"])) == 1
    assert f"no event store at {tmp_path / 'nothing-here' / 'events.sqlite3'}" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "nothing-here").exists()


def test_history_on_a_terminal_wraps_lines_between_words(profiles: UserProfiles) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing"})
    entries = list(reversed(newest_entries(UserHistory(profiles), user_id, None)))
    out = io.StringIO()
    narrow = Console(file=out, width=36, force_terminal=True, color_system=None)
    write_timeline(narrow, user_id, entries, len(entries))
    words = {word for line in out.getvalue().splitlines() for word in line.split()}
    assert {"client", "history-client", "(client-credentials)", "request", "req-7"} <= words
    assert all(len(line) <= 36 for line in out.getvalue().splitlines())


def test_history_on_an_empty_postgresql_database_says_there_is_no_store(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = Settings(data_dir=tmp_path, database_url=postgres_url)
    assert run(empty, parser().parse_args(["history", "auth0|somebody"])) == 1
    assert "no event store in PostgreSQL database" in capsys.readouterr().err
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)
