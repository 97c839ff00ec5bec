"""Auth0 metadata semantics: validation, first-level merge, per-key changes.

Auth0 merges `user_metadata` / `app_metadata` only at the first level: each top-level key in a
patch replaces or adds that key, nested objects and arrays are replaced whole, `null` deletes a
key and an empty object clears the whole bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
NUL_MESSAGE = "{what} may not contain NUL (\\u0000) characters"
SURROGATE_MESSAGE = "{what} must be valid Unicode (no lone surrogate such as \\ud800)"

# JSON numbers are kept as 64-bit integers (as orjson, PostgreSQL jsonb and SQLite read them).
INT64 = range(-(2**63), 2**63)
# The deepest nesting a bucket may be allowed: the code that copies and serialises a bucket
# recurses (orjson stops at 255 levels; events and messages wrap a bucket in a few more).
MAX_DEPTH_CEILING = 100

# Scalars every store keeps as they are.
PLAIN_SCALARS = (bool, float, type(None))
# Where a value sits: (parent place, key or index), None at the root; rendered only on error.
Place = tuple[Any, str | int] | None


@dataclass(frozen=True)
class MetadataLimits:
    """Limits on one metadata bucket after a patch is applied."""

    max_bytes: int = 16 * 1024
    max_depth: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= MAX_DEPTH_CEILING:
            raise ValueError(
                f"The metadata depth limit must be 1 to {MAX_DEPTH_CEILING}, not {self.max_depth}."
            )


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


def walk(value: Any) -> Iterator[tuple[Place, int, Any]]:
    """Every value inside a JSON value, in document order, with its place and nesting level
    (the root is level 0, its items level 1). Iterative, so any nesting is safe to walk, and a
    caller that stops at a level never reaches the levels below it."""
    stack: list[tuple[Place, int, Any]] = [(None, 0, value)]
    while stack:
        place, level, item = stack.pop()
        yield place, level, item
        if isinstance(item, dict):
            children = [((place, key), level + 1, child) for key, child in item.items()]
        elif isinstance(item, list):
            children = [((place, index), level + 1, child) for index, child in enumerate(item)]
        else:
            continue
        stack.extend(reversed(children))


def place_name(root: str, place: Place) -> str:
    """`root.key[0].other`: a place inside the value called `root`."""
    parts: list[str] = []
    while place is not None:
        place, key = place
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return root + "".join(reversed(parts))


def depth(value: Any) -> int:
    """Nesting depth of a JSON value: a scalar is 0, `{"a": 1}` is 1, `{"a": [1]}` is 2."""
    return max((level + 1 for _, level, item in walk(value) if _is_container(item)), default=0)


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list)


def payload_error(detail: str, place: str) -> InvalidRequest:
    return InvalidRequest(f"Payload validation error: '{detail}' on property {place}.")


def _too_deep(bucket: str, limit: int) -> InvalidRequest:
    return InvalidRequest(
        f"Payload validation error: '{bucket}' is nested deeper than {limit} levels."
    )


def validate_patch(bucket: str, patch: Any, limits: MetadataLimits) -> None:
    """Checks a metadata patch as sent: an object no deeper than the limit whose keys and
    values, at any depth, are acceptable and storable. A bucket after the patch is at least as
    deep as the patch, so the depth refused here would be refused after merging anyway."""
    if not isinstance(patch, dict):
        raise InvalidRequest(
            f"Payload validation error: 'Expected type object but found type "
            f"{json_type_name(patch)}' on property {bucket}."
        )
    _check_tree(bucket, limits, None, 0, patch)
    if bucket == APP_METADATA:
        reserved = sorted(RESERVED_APP_METADATA_KEYS.intersection(patch))
        if reserved:
            raise InvalidRequest(
                "Payload validation error: these app_metadata keys are reserved: "
                + ", ".join(reserved)
                + "."
            )


def _check_tree(
    bucket: str, limits: MetadataLimits, place: Place, level: int, item: dict[str, Any] | list[Any]
) -> None:
    """`validate_patch`'s walk of a container at `level`, in document order: recursive, as the
    depth limit (at most MAX_DEPTH_CEILING) is checked before each level down; the common
    scalars are told storable without a call (a bulk import checks millions of them)."""
    entries: Iterable[tuple[str | int, Any]]
    if isinstance(item, dict):
        _check_keys(bucket, place, item)
        entries = item.items()
    else:
        entries = enumerate(item)
    if level >= limits.max_depth:
        raise _too_deep(bucket, limits.max_depth)
    for key, child in entries:
        kind = type(child)
        if kind is str:
            if "\0" in child or not child.isascii():
                check_storable(bucket, (place, key), child)
        elif kind is int:
            if child not in INT64:
                check_storable(bucket, (place, key), child)
        elif isinstance(child, dict | list):
            _check_tree(bucket, limits, (place, key), level + 1, child)
        elif kind not in PLAIN_SCALARS:
            check_storable(bucket, (place, key), child)


def _check_keys(bucket: str, place: Place, item: dict[str, Any]) -> None:
    for key in item:
        if "." in key:
            raise InvalidRequest(DOTTED_KEY_MESSAGE)
        if "$" in key:
            raise InvalidRequest(DOLLAR_KEY_MESSAGE)
        if "\0" in key:
            raise payload_error(
                NUL_MESSAGE.format(what="Property names"), place_name(bucket, place)
            )
        if not is_unicode(key):
            raise payload_error(
                SURROGATE_MESSAGE.format(what="Property names"), place_name(bucket, place)
            )


def check_storable(root: str, place: Place, value: Any) -> None:
    """Refuses a scalar that a store would refuse or change: text with NUL (PostgreSQL's text
    and jsonb cannot hold it) or a lone surrogate (no JSON encoder writes it), and an integer
    beyond 64 bits."""
    if isinstance(value, str) and "\0" in value:
        raise payload_error(NUL_MESSAGE.format(what="Strings"), place_name(root, place))
    if isinstance(value, str) and not is_unicode(value):
        raise payload_error(SURROGATE_MESSAGE.format(what="Strings"), place_name(root, place))
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        raise payload_error(f"Integer {value} is outside the 64-bit range", place_name(root, place))


def is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate, which UTF-8 cannot encode."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_limits(bucket: str, metadata: Metadata, limits: MetadataLimits) -> None:
    """Checks a whole bucket (the result of a patch) against the configured limits."""
    if depth(metadata) > limits.max_depth:
        raise _too_deep(bucket, limits.max_depth)
    check_size(bucket, metadata, limits)


def check_size(bucket: str, metadata: Metadata, limits: MetadataLimits) -> None:
    """The size limit alone, for a bucket whose depth `validate_patch` has checked."""
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
