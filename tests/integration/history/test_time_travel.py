"""Time travel on the real stores: a user exactly as they were at a version or a moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metaledger.domain.errors import UserNotFound
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.time_travel import user_as_of, user_at_version
from tests.integration.history.conftest import ACTOR, create, patch

Buckets = tuple[dict[str, Any], dict[str, Any]]

values = st.recursive(
    # Text a store keeps: no NUL (PostgreSQL's text and jsonb cannot hold it) and no lone
    # surrogate (UTF-8 cannot encode it); the domain refuses both.
    st.none()
    | st.booleans()
    | st.integers(-9, 9)
    | st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=6),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(st.text("xyz", min_size=1, max_size=2), inner, max_size=2)
    ),
    max_leaves=4,
)
patches = st.tuples(
    st.sampled_from([USER_METADATA, APP_METADATA]),
    st.none()
    | st.dictionaries(st.sampled_from(["plan", "roles", "theme", "n"]), values, max_size=3),
)


def fold(buckets: Buckets, bucket: str, patch_: dict[str, Any] | None) -> Buckets:
    """The reference model of Auth0's first-level merge: null and {} clear, null values delete."""
    user_metadata, app_metadata = buckets
    current = user_metadata if bucket == USER_METADATA else app_metadata
    merged: dict[str, Any] = {}
    if patch_:
        merged = dict(current)
        for key, value in patch_.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
    return (merged, app_metadata) if bucket == USER_METADATA else (user_metadata, merged)


# Every example creates a user of its own in the one store the test's fixtures opened.
stored_examples = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def patched_user(
    profiles: UserProfiles, sequence: list[tuple[str, dict[str, Any] | None]]
) -> tuple[str, list[Buckets]]:
    """A new user with the patches applied, and the expected buckets at each version."""
    user_id = create(profiles)
    expected: list[Buckets] = [({}, {})]
    for bucket, patch_ in sequence:
        patch(profiles, user_id, **{bucket: patch_})
        expected.append(fold(expected[-1], bucket, patch_))
    return user_id, expected


@settings(stored_examples, max_examples=20)
@given(sequence=st.lists(patches, max_size=8))
def test_the_user_at_version_k_is_the_fold_of_the_first_k_patches(
    profiles: UserProfiles, sequence: list[tuple[str, dict[str, Any] | None]]
) -> None:
    user_id, expected = patched_user(profiles, sequence)
    for version, buckets in enumerate(expected, start=1):
        user = user_at_version(profiles, user_id, version)
        assert (user.user_metadata, user.app_metadata) == buckets


@settings(stored_examples, max_examples=10)
@given(sequence=st.lists(patches, min_size=1, max_size=6))
def test_the_user_as_of_each_events_time_is_the_fold_up_to_it(
    profiles: UserProfiles, sequence: list[tuple[str, dict[str, Any] | None]]
) -> None:
    user_id, expected = patched_user(profiles, sequence)
    entries = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 100).entries
    for entry in entries:
        user = user_as_of(profiles, user_id, entry.timestamp)
        assert (user.user_metadata, user.app_metadata) == expected[entry.version - 1]


def first_time(profiles: UserProfiles, user_id: str) -> Any:
    entries = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 100).entries
    return entries[-1].timestamp


def test_as_of_before_the_user_existed_is_not_found(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    with pytest.raises(UserNotFound, match="did not exist"):
        user_as_of(profiles, user_id, first_time(profiles, user_id) - timedelta(microseconds=1))


def test_as_of_the_creation_time_is_the_created_user(profiles: UserProfiles) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing"})
    patch(profiles, user_id, user_metadata={"hobby": "climbing"})
    user = user_as_of(profiles, user_id, first_time(profiles, user_id))
    assert user.user_metadata == {"hobby": "surfing"}


def test_a_version_beyond_the_latest_is_not_found(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    with pytest.raises(UserNotFound, match="no version 2"):
        user_at_version(profiles, user_id, 2)


def test_a_user_that_never_existed_has_no_past(profiles: UserProfiles) -> None:
    with pytest.raises(UserNotFound):
        user_at_version(profiles, "auth0|never", 1)


def test_a_deleted_user_still_reads_as_it_was_before_deletion(profiles: UserProfiles) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing"})
    profiles.delete_user(user_id, ACTOR)
    assert user_at_version(profiles, user_id, 1).user_metadata == {"hobby": "surfing"}
    with pytest.raises(UserNotFound):
        user_at_version(profiles, user_id, 2)


def test_an_erased_user_has_no_past(profiles: UserProfiles) -> None:
    user_id = create(profiles, user_metadata={"hobby": "surfing"})
    profiles.delete_user(user_id, ACTOR, erase=True)
    with pytest.raises(UserNotFound):
        user_at_version(profiles, user_id, 1)


def test_a_long_history_reads_as_of_a_moment_through_snapshots(profiles: UserProfiles) -> None:
    user_id = create(profiles)
    for number in range(1, 121):
        patch(profiles, user_id, app_metadata={"n": number})
    history = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 100)
    at_75 = next(entry for entry in history.entries if entry.version == 75)
    assert user_as_of(profiles, user_id, at_75.timestamp).app_metadata == {"n": 74}
