"""Auth0 metadata semantics: validation, first-level merge, per-key changes.

Auth0 merges `user_metadata` / `app_metadata` only at the first level: each top-level key in a
patch replaces or adds that key, nested objects and arrays are replaced whole, `null` deletes a
key and an empty object clears the whole bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from metaledger.domain.errors import InvalidRequest

Metadata = dict[str, Any]
Changes = dict[str, dict[str, Any]]

USER_METADATA = "user_metadata"
APP_METADATA = "app_metadata"

# Auth0 refuses these keys inside app_metadata: they collide with root profile fields.
RESERVED_APP_METADATA_KEYS = frozenset(
    {
        "__tenant",
        "_id",
        "blocked",
        "clientID",
        "created_at",
        "email_verified",
        "email",
        "globalClientID",
        "global_client_id",
        "identities",
        "lastIP",
        "lastLogin",
        "loginsCount",
        "metadata",
        "multifactor_last_modified",
        "multifactor",
        "updated_at",
        "user_id",
    }
)

DOTTED_KEY_MESSAGE = (
    'Fields with "." are not allowed, please remove all dotted fields. '
    "Example: user_metadata.foo.bar"
)
DOLLAR_KEY_MESSAGE = (
    'Fields with "$" are not allowed, please remove all fields containing "$". '
    "Example: user_metadata.$foo"
)


# JSON numbers are kept as 64-bit integers (as orjson, PostgreSQL jsonb and SQLite read them).
INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class MetadataLimits:
    """Limits on one metadata bucket after a patch is applied."""

    max_bytes: int = 16 * 1024
    max_depth: int = 10


def json_type_name(value: Any) -> str:
    """The JSON Schema name of a decoded JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_patch(bucket: str, patch: Any) -> None:
    """Checks a metadata patch as sent: an object whose keys, at any depth, are acceptable."""
    if not isinstance(patch, dict):
        raise InvalidRequest(
            f"Payload validation error: 'Expected type object but found type "
            f"{json_type_name(patch)}' on property {bucket}."
        )
    _check_contents(patch)
    if bucket == APP_METADATA:
        reserved = sorted(RESERVED_APP_METADATA_KEYS.intersection(patch))
        if reserved:
            raise InvalidRequest(
                "Payload validation error: these app_metadata keys are reserved: "
                + ", ".join(reserved)
                + "."
            )


def _check_contents(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if "." in key:
                raise InvalidRequest(DOTTED_KEY_MESSAGE)
            if "$" in key:
                raise InvalidRequest(DOLLAR_KEY_MESSAGE)
            _check_contents(item)
    elif isinstance(value, list):
        for item in value:
            _check_contents(item)
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INT64.start <= value < INT64.stop
    ):
        raise InvalidRequest("Payload validation error: an integer is outside the 64-bit range.")


def depth(value: Any) -> int:
    """Nesting depth of a JSON value: a scalar is 0, `{"a": 1}` is 1, `{"a": [1]}` is 2."""
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


def check_limits(bucket: str, metadata: Metadata, limits: MetadataLimits) -> None:
    """Checks a whole bucket (the result of a patch) against the configured limits."""
    if depth(metadata) > limits.max_depth:
        raise InvalidRequest(
            f"Payload validation error: '{bucket}' is nested deeper than {limits.max_depth} levels."
        )
    size = len(orjson.dumps(metadata))
    if size > limits.max_bytes:
        raise InvalidRequest(
            f"Payload validation error: '{bucket}' would be {size} bytes, "
            f"over the limit of {limits.max_bytes} bytes."
        )


def merge(current: Metadata, patch: Metadata | None) -> Metadata:
    """Applies an Auth0 metadata patch and returns a new bucket; never mutates its inputs.

    `None` (a bucket sent as null) and `{}` both clear the bucket. Nested values are shared
    with the inputs, not copied: a patch replaces them whole and nothing edits them in place,
    so folding a long history costs one small dict per event.
    """
    if not patch:
        return {}
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def changes(before: Metadata, after: Metadata) -> Changes:
    """The per-top-level-key difference: `{key: {"old": …, "new": …}}` for keys that changed.

    A key that appears has `old` None; a key that goes away has `new` None.
    """
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if not same_json(before.get(key), after.get(key))
    }


def same_json(left: Any, right: Any) -> bool:
    """JSON equality: unlike `==`, `true` is not `1` and `1` is not `1.0`."""
    return orjson.dumps(left, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        right, option=orjson.OPT_SORT_KEYS
    )
