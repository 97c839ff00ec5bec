"""The pure rules behind hostile-value refusals: nesting, 64-bit integers, NUL, instants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from metaledger.api.http.body import MAX_BODY_DEPTH, parse_json
from metaledger.api.http.errors import ApiError
from metaledger.api.http.query_params import parse_instant
from metaledger.domain.errors import InvalidRequest
from metaledger.domain.metadata import (
    MAX_DEPTH_CEILING,
    MetadataLimits,
    depth,
    place_name,
    validate_patch,
    walk,
)

FAR_PAST_THE_RECURSION_LIMIT = 50_000


def nested_lists(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_depth_is_measured_without_recursion() -> None:
    assert depth(nested_lists(FAR_PAST_THE_RECURSION_LIMIT)) == FAR_PAST_THE_RECURSION_LIMIT


def test_a_patch_nested_far_past_the_recursion_limit_is_refused_as_too_deep() -> None:
    patch = {"deep": nested_lists(FAR_PAST_THE_RECURSION_LIMIT)}
    with pytest.raises(InvalidRequest, match="'user_metadata' is nested deeper than 10 levels"):
        validate_patch("user_metadata", patch, MetadataLimits())


def test_a_patch_as_deep_as_the_limit_is_accepted() -> None:
    validate_patch("user_metadata", {"deep": nested_lists(9)}, MetadataLimits())


def test_walk_visits_values_in_document_order_with_their_places() -> None:
    visited = [(place_name("root", place), item) for place, _, item in walk({"a": [1, {"b": 2}]})]
    assert [name for name, _ in visited] == [
        "root",
        "root.a",
        "root.a[0]",
        "root.a[1]",
        "root.a[1].b",
    ]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"a": [1, 2**64]},
            "'Integer 18446744073709551616 is outside the 64-bit range' "
            "on property user_metadata.a[1].",
        ),
        (
            {"a": {"b": -(2**63) - 1}},
            "'Integer -9223372036854775809 is outside the 64-bit range' "
            "on property user_metadata.a.b.",
        ),
        (
            {"a": ["x\x00"]},
            "'Strings may not contain NUL (\\u0000) characters' on property user_metadata.a[0].",
        ),
        (
            {"a": [{"\x00": 1}]},
            "'Property names may not contain NUL (\\u0000) characters' "
            "on property user_metadata.a[0].",
        ),
    ],
    ids=["2^64 in a list", "-2^63-1 in an object", "NUL in a value", "NUL in a key"],
)
def test_values_no_store_can_keep_are_refused_naming_their_place(
    patch: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_patch("user_metadata", patch, MetadataLimits())
    assert refused.value.message == f"Payload validation error: {message}"


def test_the_64_bit_bounds_themselves_are_accepted() -> None:
    validate_patch("app_metadata", {"max": 2**63 - 1, "min": -(2**63)}, MetadataLimits())


@pytest.mark.parametrize("max_depth", [0, MAX_DEPTH_CEILING + 1])
def test_a_depth_limit_past_what_can_be_copied_and_serialised_is_refused(max_depth: int) -> None:
    with pytest.raises(ValueError, match=f"1 to {MAX_DEPTH_CEILING}"):
        MetadataLimits(max_depth=max_depth)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"n":18446744073709551616}', 2**64),
        (b'{"n":100000000000000000000000000001}', 10**29 + 1),
        (b'{"n":-9223372036854775809}', -(2**63) - 1),
        (b'{"n":18446744073709551615}', 2**64 - 1),
    ],
)
def test_integers_beyond_64_bits_are_read_exactly(text: bytes, expected: int) -> None:
    parsed = parse_json(text, MAX_BODY_DEPTH, "payload")
    assert parsed == {"n": expected}
    assert isinstance(parsed["n"], int)


def test_a_float_with_a_large_integral_value_stays_a_float() -> None:
    parsed = parse_json(b'{"f":1.8446744073709552e19,"n":18446744073709551616}', 5, "payload")
    assert parsed == {"f": 1.8446744073709552e19, "n": 2**64}
    assert isinstance(parsed["f"], float)


def test_a_body_deeper_than_its_limit_is_refused_before_anything_recurses() -> None:
    text = b"[" * 1000 + b"]" * 1000
    with pytest.raises(ApiError) as refused:
        parse_json(text, MAX_BODY_DEPTH, "payload")
    assert refused.value.status == 400
    assert refused.value.message == (
        f"Payload validation error: 'payload' is nested deeper than {MAX_BODY_DEPTH} levels."
    )


def test_a_body_as_deep_as_its_limit_is_read() -> None:
    levels = MAX_BODY_DEPTH
    assert depth(parse_json(b"[" * levels + b"]" * levels, levels, "payload")) == levels


def test_a_number_orjson_cannot_read_is_still_malformed_json() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        parse_json(b'{"n":1' + b"0" * 400 + b"}", MAX_BODY_DEPTH, "payload")


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "9999-12-31T23:59:59-01:00"],
)
def test_an_instant_outside_what_the_event_times_hold_is_refused(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_instant(text, "since")
    assert refused.value.status == 400
    assert refused.value.error_code == "invalid_query_string"
    assert refused.value.message.endswith(
        "is out of range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z) on property since."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1970-01-01T01:00:00+01:00", datetime(1970, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59.999999", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_an_instant_within_range_is_read_in_utc(text: str, expected: datetime) -> None:
    moment = parse_instant(text, "as_of")
    assert moment == expected
    assert moment.tzinfo is UTC
