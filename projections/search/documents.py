"""A user as the read model keeps it: typed columns, metadata entries and the aggregate's state.

The row stores the User aggregate's state (as a snapshot would, without the password hash) so
the projector can apply the next event with the domain's own code, and the search returns
`User.as_auth0()`: the document always equals what GET /users/{id} returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from metaledger.domain.storage import OrjsonTranscoder
from metaledger.domain.user import User, auth0_document, format_stored_timestamp
from metaledger.projections.search.fields import COLUMNS, METADATA_BUCKETS, ROOT_FIELDS, Kind

# Longer values are kept in the document but not indexed, so every index entry fits a
# PostgreSQL btree page (Auth0 likewise leaves long metadata values out of search).
MAX_INDEXED_BYTES = 1024

_TRANSCODER = OrjsonTranscoder()
_USER_TOPIC = get_topic(User)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MetadataEntry = tuple[str, str, float | None]  # (path, value as text, value as number)
Buckets = tuple[dict[str, Any], dict[str, Any]]  # (user_metadata, app_metadata)


@dataclass(frozen=True)
class UserRow:
    """One user in the read model. `key` is the position of the event that created the user:
    unique, stable across rebuilds, and in creation order (the default result order)."""

    key: int
    aggregate_id: UUID
    version: int
    columns: tuple[Any, ...]  # in the order of fields.COLUMNS
    state: bytes
    # The metadata entries to insert and to delete: only what changed is written.
    added: frozenset[MetadataEntry]
    removed: frozenset[MetadataEntry]
    # The columns whose value changed, so only their indexes are touched; None for a new row.
    changed: tuple[str, ...] | None


@dataclass(frozen=True)
class Indexed:
    """What the read model indexes of a user: its columns and its metadata buckets."""

    columns: tuple[Any, ...]
    buckets: Buckets

    @classmethod
    def of(cls, user: User) -> Indexed:
        return cls(columns_of(user), buckets_of(user))


@dataclass(frozen=True)
class RemovedUser:
    key: int
    entries: frozenset[MetadataEntry]


def indexable(text: str) -> bool:
    """Values with NUL (which PostgreSQL text refuses) or over the size cap are not indexed."""
    return "\x00" not in text and (
        len(text) <= MAX_INDEXED_BYTES // 4 or len(text.encode()) <= MAX_INDEXED_BYTES
    )


_COLUMN_SOURCES = tuple((field.name, field.read, field.kind) for field in ROOT_FIELDS.values())


def columns_of(user: User) -> tuple[Any, ...]:
    """The typed column values; a value of the wrong type, or not indexable, is NULL."""
    document = user.as_auth0()
    values: list[Any] = []
    for name, read, kind in _COLUMN_SOURCES:
        value = document.get(name) if read is None else read(document)
        if kind is Kind.BOOLEAN:
            values.append(value if type(value) is bool else None)
        elif kind is Kind.INTEGER:
            values.append(value if type(value) is int else None)
        elif type(value) is str and indexable(value):
            values.append(value.lower() if kind is Kind.FOLDED_TEXT else value)
        else:
            values.append(None)
    return tuple(values)


def metadata_entries(buckets: Buckets) -> frozenset[MetadataEntry]:
    """Every scalar in both buckets under its dotted path; arrays add no path segment, so an
    object inside an array is found as `user_metadata.addresses.city` (Auth0's rule).

    The entries follow from the buckets alone: the projector deletes a user's old entries by
    computing them again, so a change to these rules needs a rebuild."""
    entries: set[MetadataEntry] = set()
    for bucket, value in zip(METADATA_BUCKETS, buckets, strict=True):
        _collect(bucket, value, entries)
    return frozenset(entries)


def buckets_of(user: User) -> Buckets:
    return (user.user_metadata, user.app_metadata)


def _collect(path: str, value: Any, entries: set[MetadataEntry]) -> None:
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            inner = f"{path}.{key}"
            if indexable(inner):  # a deeper path is only longer
                _collect(inner, item, entries)
    elif kind is list:
        for item in value:
            _collect(path, item, entries)
    elif kind is str:
        if indexable(value):
            entries.add((path, value, None))
    elif kind is bool:
        entries.add((path, "true" if value else "false", None))
    elif kind is int:
        entries.add((path, str(value), _as_number(value)))
    elif kind is float:
        entries.add((path, orjson.dumps(value).decode(), value))


def _as_number(value: int) -> float | None:
    try:
        return float(value)
    except OverflowError:
        return None


def encode_state(user: User) -> bytes:
    state = dict(User.Snapshot.take(user).state)
    profile = dict(state["profile"])
    profile.pop("password_hash", None)
    state["profile"] = profile
    return _TRANSCODER.encode({"state": state})


def decode_state(state: bytes, aggregate_id: UUID, version: int) -> User:
    """The aggregate as it was after `version`, restored like the library restores snapshots."""
    snapshot = User.Snapshot(
        originator_id=aggregate_id,
        originator_version=version,
        timestamp=_EPOCH,
        topic=_USER_TOPIC,
        state=_TRANSCODER.decode(state)["state"],
    )
    return cast(User, snapshot.mutate(None))


def document_of_state(state: bytes) -> dict[str, Any]:
    """What `decode_state(state, ...).as_auth0()` returns, made without restoring the
    aggregate or parsing its times (which cost as much again)."""
    attributes = orjson.loads(state)["state"]
    return auth0_document(
        attributes,
        format_stored_timestamp(attributes["_created_on"]),
        format_stored_timestamp(attributes["_modified_on"]),
    )


def user_row(key: int, user: User, before: Indexed | None) -> UserRow:
    """The row for `user`, with what to write given what the read model holds `before` (None
    for a user not in it yet)."""
    columns, current = columns_of(user), buckets_of(user)
    if before is None:
        added, removed = metadata_entries(current), frozenset[MetadataEntry]()
        changed = None
    else:
        if before.buckets == current:
            added = removed = frozenset()
        else:
            old, new = metadata_entries(before.buckets), metadata_entries(current)
            added, removed = new - old, old - new
        changed = tuple(
            name
            for name, old_value, new_value in zip(COLUMNS, before.columns, columns, strict=True)
            if old_value != new_value or type(old_value) is not type(new_value)
        )
    return UserRow(
        key=key,
        aggregate_id=user.id,
        version=user.version,
        columns=columns,
        state=encode_state(user),
        added=added,
        removed=removed,
        changed=changed,
    )
