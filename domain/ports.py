"""The abilities the domain needs beside the event log, as interfaces: the unique email index,
the users' keys (for erasure), the time index, the bulk change feed and password hashing.

The storage adapters (`metaledger.domain.storage`) implement the store ports for SQLite and
PostgreSQL in the events' own transaction; the type checker holds them to these signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID


@dataclass(frozen=True)
class EmailClaim:
    """A user's email claimed (or released) within a connection, written with the events."""

    connection: str
    email: str
    user_id: str
    claimed: bool  # False releases the claim


class CommitObserver(Protocol):
    """Told of each group commit (one transaction): the saves and events it wrote, and the
    seconds it took. Called in the writer's thread; it must be quick and must not raise."""

    def committed(self, saves: int, events: int, seconds: float) -> None: ...


class EmailTakenError(Exception):
    """The append would give a second user an email that is already claimed."""


@dataclass(frozen=True)
class KeyRecord:
    """A user's data key; None once destroyed (the user is erased)."""

    user_id: str
    key: bytes | None


class EmailIndex(Protocol):
    def user_ids_by_email(self, email: str) -> list[str]:
        """The users holding `email` (exact), in any connection."""
        ...


class UserKeys(Protocol):
    def user_keys_of(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, KeyRecord]:
        """The keys of the users that have one (destroyed keys as None)."""
        ...


class TimeIndex(Protocol):
    def version_at(self, aggregate_id: UUID, moment: datetime) -> int | None:
        """The user's last version recorded at or before `moment`, None if there is none."""
        ...


class EventRows(Protocol):
    def events_after(self, position: int, limit: int, topics: Sequence[str] = ()) -> list[Any]:
        """Rows (position, originator_id, originator_version, topic, state) in log order, for
        bulk readers: the notification log without the library's per-row objects."""
        ...

    def events_with_keys_after(self, position: int, limit: int) -> list[Any]:
        """The rows of `events_after` with their user's data `key` beside (None once the key
        is destroyed, or where there never was one), for readers that unseal every event."""
        ...


def as_uuid(value: UUID | str) -> UUID:
    """An aggregate id read back from either backend (the rows of `EventRows` hold either)."""
    return value if isinstance(value, UUID) else UUID(value)


@runtime_checkable
class TablesBesideEvents(EmailIndex, UserKeys, TimeIndex, EventRows, Protocol):
    """Everything the event store keeps beside the events."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
