"""`metaledger history USER_ID` prints the user's timeline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from metaledger.api.cli.history import run
from metaledger.api.cli.main import parser
from metaledger.api.settings import Settings
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
    assert "(2 events)" in out
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
