"""Which metadata patches are refused, and with which message."""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.domain.errors import InvalidRequest
from metaledger.domain.metadata import (
    DOLLAR_KEY_MESSAGE,
    DOTTED_KEY_MESSAGE,
    MetadataLimits,
    check_limits,
    depth,
    validate_patch,
)


@pytest.mark.parametrize(
    ("bucket", "patch", "message"),
    [
        ("user_metadata", {"foo.bar": 1}, DOTTED_KEY_MESSAGE),
        ("user_metadata", {"outer": {"in.ner": 1}}, DOTTED_KEY_MESSAGE),
        ("user_metadata", {"list": [{"a.b": 1}]}, DOTTED_KEY_MESSAGE),
        ("app_metadata", {"$set": 1}, DOLLAR_KEY_MESSAGE),
        ("app_metadata", {"outer": {"a$b": 1}}, DOLLAR_KEY_MESSAGE),
        ("user_metadata", "a string", "Expected type object but found type string"),
        ("user_metadata", ["a"], "Expected type object but found type array"),
        ("app_metadata", 3, "Expected type object but found type integer"),
        ("app_metadata", {"email": "x@y.z"}, "reserved: email"),
        ("app_metadata", {"user_id": "x", "blocked": True}, "reserved: blocked, user_id"),
        ("user_metadata", {"big": 2**64}, "outside the 64-bit range"),
        ("user_metadata", {"hobby": "\ud800"}, "must be valid Unicode"),
        ("app_metadata", {"roles": ["ok", "x\udfff"]}, "must be valid Unicode"),
        ("user_metadata", {"\ud83d": 1}, "must be valid Unicode"),
    ],
)
def test_bad_patches_are_refused_with_a_clear_message(
    bucket: str, patch: Any, message: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_patch(bucket, patch, MetadataLimits())
    assert message in refused.value.message


@pytest.mark.parametrize(
    "patch",
    [
        {"preference": "light.blue"},
        {"price": "$5"},
        {"email": "kept@example.com"},
        {"nested": {"deep": [1, {"ok": None}]}},
    ],
)
def test_dots_and_dollars_in_values_and_root_names_in_user_metadata_are_fine(
    patch: dict[str, Any],
) -> None:
    validate_patch("user_metadata", patch, MetadataLimits())


def test_depth_counts_objects_and_arrays() -> None:
    assert depth({}) == 1
    assert depth({"a": 1}) == 1
    assert depth({"a": {"b": [1]}}) == 3


def test_a_bucket_nested_deeper_than_the_limit_is_refused() -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(4):
        nested = {"level": nested}
    with pytest.raises(InvalidRequest, match="nested deeper than 4 levels"):
        check_limits("user_metadata", nested, MetadataLimits(max_depth=4))


def test_a_bucket_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="over the limit of 100 bytes"):
        check_limits("app_metadata", {"blob": "x" * 200}, MetadataLimits(max_bytes=100))


def test_a_bucket_within_the_limits_passes() -> None:
    check_limits("app_metadata", {"plan": "pro"}, MetadataLimits(max_bytes=100, max_depth=2))
