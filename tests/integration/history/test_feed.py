"""The tenant-wide change feed on the real stores: global order, positions, filters."""

from __future__ import annotations

from metaledger.domain.feed import ChangeFeed
from metaledger.domain.profiles import UserProfiles
from tests.integration.history.conftest import ACTOR, create, patch


def test_the_feed_returns_every_users_events_in_commit_order(profiles: UserProfiles) -> None:
    first = create(profiles)
    second = create(profiles)
    patch(profiles, first, app_metadata={"plan": "pro"})
    items = ChangeFeed(profiles).read(0, 10).items
    assert [(item.user_id, item.entry.event) for item in items] == [
        (first, "UserCreated"),
        (second, "UserCreated"),
        (first, "AppMetadataPatched"),
    ]
    assert [item.position for item in items] == sorted({item.position for item in items})


def test_reading_from_next_continues_where_the_page_ended(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    for number in range(5):
        patch(profiles, user_id, user_metadata={"n": number})
    feed = ChangeFeed(profiles)
    first = feed.read(0, 4)
    rest = feed.read(first.next, 100)
    versions = [item.entry.version for item in first.items + rest.items]
    assert versions == [1, 2, 3, 4, 5, 6]
    assert feed.read(rest.next, 100).items == []
    assert feed.read(rest.next, 100).next == rest.next


def test_the_feed_filters_by_event_name(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    patch(profiles, user_id, user_metadata={"a": 1})
    patch(profiles, user_id, app_metadata={"b": 2})
    profiles.delete_user(user_id, ACTOR)
    page = ChangeFeed(profiles).read(0, 10, frozenset({"AppMetadataPatched", "UserDeleted"}))
    assert [item.entry.event for item in page.items] == ["AppMetadataPatched", "UserDeleted"]


def test_the_feed_filters_by_user_within_the_events_scanned(profiles: UserProfiles) -> None:
    mine = create(profiles)
    theirs = create(profiles)
    patch(profiles, theirs, user_metadata={"a": 1})
    patch(profiles, mine, user_metadata={"a": 2})
    feed = ChangeFeed(profiles)
    first = feed.read(0, 3, user_id=mine)
    assert [item.entry.version for item in first.items] == [1]
    second = feed.read(first.next, 3, user_id=mine)
    assert [item.entry.version for item in second.items] == [2]


def test_an_erased_users_events_stay_in_the_feed_with_payloads_erased(
    profiles: UserProfiles,
) -> None:
    user_id = create(profiles, {"email": "gone@example.com"})
    profiles.delete_user(user_id, ACTOR, erase=True)
    items = ChangeFeed(profiles).read(0, 10).items
    assert [(i.user_id, i.entry.event, i.entry.erased) for i in items] == [
        (user_id, "UserCreated", True),
        (user_id, "UserDeleted", True),
    ]
    assert items[0].entry.actor == ACTOR.as_dict()
    assert items[0].entry.patch is None


def test_feed_items_carry_the_patch_and_qualified_changes(profiles: UserProfiles) -> None:
    user_id = create(profiles, app_metadata={"plan": "free"})
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    item = ChangeFeed(profiles).read(0, 10).items[-1]
    assert item.as_dict()["patch"] == {"app_metadata": {"plan": "pro"}}
    assert item.as_dict()["changes"] == {"app_metadata.plan": {"old": "free", "new": "pro"}}
    assert item.as_dict()["user_id"] == user_id
