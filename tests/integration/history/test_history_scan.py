"""Scanning a long history in windows gives the pages a full read would, on both stores."""

from __future__ import annotations

import pytest

from metaledger.domain.errors import UserNotFound
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.profiles import UserProfiles
from tests.integration.history.conftest import create, patch

EVENTS = 260  # past the first window and one doubling


@pytest.fixture
def long_user(profiles: UserProfiles) -> str:
    user_id = create(profiles, {"email": "long@example.com"}, app_metadata={"n": 0})
    for number in range(1, EVENTS):
        if number % 7 == 0:
            patch(profiles, user_id, user_metadata={"seven": number})
        else:
            patch(profiles, user_id, app_metadata={"n": number})
    return user_id


def versions(history: UserHistory, user_id: str, where: HistoryFilter, take: int) -> list[int]:
    """Every matching version, page after page."""
    found: list[int] = []
    before = None
    while True:
        page = history.scan(user_id, where, before, take)
        found.extend(entry.version for entry in page.entries)
        if page.next is None:
            return found
        before = page.next


def test_a_scan_starts_at_the_newest_version(profiles: UserProfiles, long_user: str) -> None:
    page = UserHistory(profiles).scan(long_user, HistoryFilter(), None, 1)
    assert [entry.version for entry in page.entries] == [EVENTS]
    assert page.next == EVENTS


@pytest.mark.parametrize(
    "where",
    [
        HistoryFilter(),
        HistoryFilter(key="user_metadata.seven"),
        HistoryFilter(events=frozenset({"UserMetadataPatched"})),
        HistoryFilter(events=frozenset({"UserCreated"})),
    ],
)
def test_scanned_pages_hold_what_a_full_read_finds(
    profiles: UserProfiles, long_user: str, where: HistoryFilter
) -> None:
    history = UserHistory(profiles)
    everything = [entry.version for entry in history.page(long_user, where, 0, 10_000).entries]
    assert versions(history, long_user, where, 50) == everything
    assert versions(history, long_user, where, 7) == everything


def test_a_scan_from_a_version_starts_below_it(profiles: UserProfiles, long_user: str) -> None:
    page = UserHistory(profiles).scan(long_user, HistoryFilter(), 101, 3)
    assert [entry.version for entry in page.entries] == [100, 99, 98]
    assert page.next == 98


def test_a_budget_stops_a_scan_short_and_the_next_page_goes_on_below(
    profiles: UserProfiles, long_user: str
) -> None:
    history = UserHistory(profiles)
    created = HistoryFilter(events=frozenset({"UserCreated"}))
    short = history.scan(long_user, created, None, 10, budget=100)
    assert short.entries == []
    assert short.next == EVENTS - 100 + 1
    rest = history.scan(long_user, created, short.next, 10)
    assert [entry.version for entry in rest.entries] == [1]


def test_scanning_an_unknown_user_is_not_found(profiles: UserProfiles) -> None:
    with pytest.raises(UserNotFound):
        UserHistory(profiles).scan("auth0|nobody", HistoryFilter(), None, 10)
