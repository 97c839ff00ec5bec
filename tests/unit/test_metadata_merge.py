"""Auth0's metadata merge rules, as properties and as Auth0's own worked examples."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaledger.domain.metadata import changes, merge, same_json

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
keys = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
buckets = st.dictionaries(keys, json_values.filter(lambda v: v is not None), max_size=6)
patches = st.dictionaries(keys, json_values, min_size=1, max_size=6)


@given(buckets, patches)
def test_merge_sets_every_non_null_key_of_the_patch(
    current: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge(current, patch)
    for key, value in patch.items():
        if value is not None:
            assert merged[key] == value


@given(buckets, patches)
def test_merge_removes_keys_patched_with_null(
    current: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge(current, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in merged


@given(buckets, patches)
def test_merge_keeps_keys_the_patch_does_not_name(
    current: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge(current, patch)
    for key, value in current.items():
        if key not in patch:
            assert merged[key] == value


@given(buckets, patches)
def test_merge_never_mutates_its_inputs(current: dict[str, Any], patch: dict[str, Any]) -> None:
    current_before, patch_before = copy.deepcopy(current), copy.deepcopy(patch)
    merged = merge(current, patch)
    merged["added after the merge"] = True
    assert current == current_before
    assert patch == patch_before


@given(buckets)
def test_an_empty_patch_clears_the_bucket(current: dict[str, Any]) -> None:
    assert merge(current, {}) == {}


@given(buckets)
def test_a_null_bucket_clears_it(current: dict[str, Any]) -> None:
    assert merge(current, None) == {}


@given(buckets, patches)
def test_changes_name_exactly_the_keys_whose_value_changed(
    current: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge(current, patch)
    diff = changes(current, merged)
    for key in current.keys() | merged.keys():
        assert (key in diff) == (not same_json(current.get(key), merged.get(key)))


@given(buckets, patches)
def test_changes_rebuild_the_new_bucket_from_the_old(
    current: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge(current, patch)
    rebuilt = dict(current)
    for key, change in changes(current, merged).items():
        if change["new"] is None:
            rebuilt.pop(key, None)
        else:
            rebuilt[key] = change["new"]
    assert rebuilt == merged


def test_auth0_example_a_adds_a_nested_object_beside_existing_keys() -> None:
    stored = {"profileCode": 1479}
    patch = {"addresses": {"work_address": "100 Industrial Way"}}
    assert merge(stored, patch) == {
        "profileCode": 1479,
        "addresses": {"work_address": "100 Industrial Way"},
    }


def test_auth0_example_b_replaces_a_nested_object_whole() -> None:
    stored = {"profileCode": 1479, "addresses": {"work_address": "100 Industrial Way"}}
    assert merge(stored, {"addresses": {"home_address": "742 Evergreen Terrace"}}) == {
        "profileCode": 1479,
        "addresses": {"home_address": "742 Evergreen Terrace"},
    }


def test_auth0_example_c_leaves_the_other_keys_in_place() -> None:
    stored = {"hobby": "surfing"}
    patch = {"addresses": {"home": "123 Main Street, Anytown, ST 12345"}}
    assert merge(stored, patch) == {
        "hobby": "surfing",
        "addresses": {"home": "123 Main Street, Anytown, ST 12345"},
    }


def test_arrays_are_replaced_not_concatenated() -> None:
    assert merge({"roles": ["admin", "editor"]}, {"roles": ["viewer"]}) == {"roles": ["viewer"]}


def test_null_deletes_the_named_key_only() -> None:
    assert merge({"color": "red", "size": 2}, {"color": None}) == {"size": 2}


def test_true_and_one_count_as_different_values() -> None:
    assert changes({"flag": 1}, {"flag": True}) == {"flag": {"old": 1, "new": True}}
