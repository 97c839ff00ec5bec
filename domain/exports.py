"""The users export command: every live user of a connection, now or as they were at a moment,
written as gzipped newline-delimited JSON or CSV with Auth0's `fields` (`name`, `export_as`)
and dotted metadata paths.

Users are folded from the event log in pages (each event read with its user's key, no
per-user read), so an export costs one pass over the log; `as_of` stops each user at the last
event recorded at or before the moment, which is what time travel (`time_travel.user_as_of`)
shows for one user.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.utils import resolve_topic

from metaledger.domain.jobs import bulk_collection_pace
from metaledger.domain.ports import as_uuid
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.upcasting import upcast
from metaledger.domain.user import User, user_of_created

PAGE = 5000
CREATED: Any = User.UserCreated  # type: ignore[attr-defined]
FORMATS = ("json", "csv")
# What a CSV export holds when no fields are named (a JSON export holds the whole user).
DEFAULT_FIELDS = (
    "user_id",
    "email",
    "email_verified",
    "username",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
    "created_at",
    "updated_at",
    "user_metadata",
    "app_metadata",
)


@dataclass(frozen=True)
class ExportField:
    name: str  # a root attribute, or a dotted path into a nested object
    export_as: str | None = None

    @property
    def column(self) -> str:
        return self.export_as or self.name


def users_in_log(
    profiles: UserProfiles, connection: str | None = None, as_of: datetime | None = None
) -> Iterator[User]:
    """Every live user (of `connection`, if named) in creation order, as of now or `as_of`."""
    users: dict[UUID, User] = {}
    classes: dict[str, Any] = {}
    position = 0
    while True:
        # Each row carries its user's key (one indexed lookup in the database, cheaper than
        # a key query a page); the cipher of a user is made once a page.
        rows = profiles.event_rows.events_with_keys_after(position, PAGE)
        if not rows:
            break
        position = rows[-1]["position"]
        users_of_page: dict[Any, tuple[UUID, AESGCM | None]] = {}
        for row in rows:
            raw_id = row["originator_id"]
            user_of_row = users_of_page.get(raw_id)
            if user_of_row is None:
                key = row["key"]
                user_of_row = (as_uuid(raw_id), AESGCM(bytes(key)) if key else None)
                users_of_page[raw_id] = user_of_row
            aggregate_id, cipher = user_of_row
            topic, version = row["topic"], row["originator_version"]
            state = profiles.shredding_mapper.decode_state(
                aggregate_id, version, topic, bytes(row["state"]), cipher
            )
            if as_of is not None and state["timestamp"] > as_of:
                continue
            cls = classes.get(topic) or classes.setdefault(topic, resolve_topic(topic))
            state["originator_id"] = aggregate_id
            state["originator_version"] = version
            upcast(cls, state)
            # Built as the library's mapper builds an event: no __init__, the fields as stored.
            event: Any = object.__new__(cls)
            object.__setattr__(event, "__dict__", state)
            users[aggregate_id] = (
                user_of_created(event) if cls is CREATED else event.mutate(users.get(aggregate_id))
            )
    for user in users.values():
        if not user.deleted and (connection is None or user.connection == connection):
            yield user


def documents_in_log(
    profiles: UserProfiles, connection: str | None = None, as_of: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The Auth0 document of every user `users_in_log` yields."""
    return (user.as_auth0() for user in users_in_log(profiles, connection, as_of))


def value_at(document: dict[str, Any], path: str) -> Any:
    """The value at `path` ("user_metadata.plan"), None where any part is missing."""
    if path in document:
        return document[path]
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def write_export(
    path: Path,
    file_format: str,
    fields: Sequence[ExportField],
    documents: Iterator[dict[str, Any]],
    limit: int | None = None,
    progress: Callable[[int], None] = lambda written: None,
    *,
    gzipped: bool = True,
) -> int:
    """Writes the users' Auth0 documents to a file at `path`, gzipped unless told; returns how
    many."""
    written = 0
    with contextlib.ExitStack() as files:
        files.enter_context(bulk_collection_pace())  # a replay folds as the users are read
        if gzipped:
            # Level 1: several times faster than the default, and JSON compresses well anyway.
            out: gzip.GzipFile | BinaryIO = files.enter_context(
                gzip.GzipFile(path, "wb", compresslevel=1)
            )
        else:
            out = files.enter_context(path.open("wb"))
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text) if file_format == "csv" else None
        columns = fields or [ExportField(name) for name in DEFAULT_FIELDS]
        if writer is not None:
            writer.writerow([field.column for field in columns])
        lines: list[bytes] = []  # JSON lines, written a page at a time
        for document in documents:
            if limit is not None and written >= limit:
                break
            if writer is not None:
                writer.writerow([_cell(value_at(document, f.name)) for f in columns])
            else:
                if fields:
                    document = {f.column: value_at(document, f.name) for f in fields}
                lines.append(orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
            if written % PAGE == 0:
                text.buffer.write(b"".join(lines))
                lines.clear()
                progress(written)
        text.flush()
        text.buffer.write(b"".join(lines))
        text.detach()
    progress(written)
    return written


def _cell(value: Any) -> str:
    """A CSV cell: text as it is, nothing for null, any other value as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
