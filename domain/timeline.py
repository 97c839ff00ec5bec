"""One event as history shows it: version, name, time, actor, the patch and per-key changes.

Change keys are qualified so that one filter reads the same on every event: a metadata key is
`user_metadata.<key>` or `app_metadata.<key>`, a root attribute is its own name (`email`).
Passwords never show: their value reads `[redacted]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from metaledger.domain.erasure import ERASED
from metaledger.domain.metadata import APP_METADATA, USER_METADATA, Changes
from metaledger.domain.user import REDACTED, User

# Library and envelope fields, not part of what an event changed.
ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "class_version",
        "timestamp",
        "actor",
        ERASED,
    }
)

Fields = Mapping[str, Any]
Rendered = tuple[dict[str, Any], Changes]


def _event_classes() -> dict[str, type[Aggregate.Event]]:
    return {
        name: value
        for name, value in vars(User).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in ("Event", "Created")
    }


# Event name → stored topic, for every event a user's stream can hold.
EVENT_TOPICS = {name: get_topic(cls) for name, cls in _event_classes().items()}


def event_name(topic: str) -> str:
    """`domain.user:User.UserMetadataPatched` → `UserMetadataPatched`."""
    return topic.rsplit(".", 1)[-1]


def format_instant(moment: datetime) -> str:
    """ISO-8601 in UTC to the microsecond, so that a time read here works as `as_of`."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds")
    return (text[:-6] if moment.tzinfo else text) + "Z"  # "+00:00" reads "Z"


@dataclass(slots=True)  # not frozen: a feed export builds a million of them
class Entry:
    version: int
    event: str
    timestamp: datetime
    actor: dict[str, Any] | None
    patch: dict[str, Any] | None  # None when erased
    changes: Changes | None
    erased: bool

    def touches(self, key: str) -> bool:
        """Whether a change is at `key` or below it (`user_metadata` covers all its keys)."""
        return any(name == key or name.startswith(key + ".") for name in (self.changes or {}))

    def as_dict(self, **head: Any) -> dict[str, Any]:
        """The entry as data for orjson, after the `head` fields given. The timestamp stays a
        datetime: orjson renders it (UTC, with microseconds unless they are zero) far faster."""
        return {
            **head,
            "version": self.version,
            "event": self.event,
            "timestamp": self.timestamp,
            "actor": self.actor,
            "patch": self.patch,
            "changes": self.changes,
            "erased": self.erased,
        }


def entry_for(event: Any) -> Entry:
    return describe(type(event).__name__, event.originator_version, vars(event))


def describe(name: str, version: int, fields: Mapping[str, Any]) -> Entry:
    """The entry of the event called `name`, from its decoded fields."""
    erased = fields.get(ERASED) is True
    patch: dict[str, Any] | None = None
    changes: Changes | None = None
    if not erased:
        patch, changes = _RENDERERS.get(name, _other)(fields)
    return Entry(
        version=version,
        event=name,
        timestamp=fields["timestamp"],
        actor=fields.get("actor"),
        patch=patch,
        changes=changes,
        erased=erased,
    )


def _shown(attributes: dict[str, Any]) -> dict[str, Any]:
    shown = dict(attributes)
    if "password_hash" in shown:
        hashed = shown.pop("password_hash")
        shown["password"] = REDACTED if hashed is not None else None
    return shown


def _qualified(bucket: str, changes: Changes) -> Changes:
    return {f"{bucket}.{key}": change for key, change in changes.items()}


def _created(fields: Fields) -> Rendered:
    profile = _shown(fields["profile"])
    changes: Changes = {name: {"old": None, "new": value} for name, value in profile.items()}
    for bucket in (USER_METADATA, APP_METADATA):
        added = {key: {"old": None, "new": value} for key, value in fields[bucket].items()}
        changes.update(_qualified(bucket, added))
    patch = {
        **profile,
        USER_METADATA: fields[USER_METADATA],
        APP_METADATA: fields[APP_METADATA],
    }
    return patch, changes


def _bucket_patched(bucket: str) -> Callable[[Fields], Rendered]:
    def render(fields: Fields) -> Rendered:
        return {bucket: fields["patch"]}, _qualified(bucket, fields["changes"])

    return render


def _profile_updated(fields: Fields) -> Rendered:
    return _shown(fields["attributes"]), fields["changes"]


def _deleted(_: Fields) -> Rendered:
    return {}, {}


def _other(fields: Fields) -> Rendered:
    """An event this module does not know yet: its fields, and its changes if it has any."""
    shown = {key: value for key, value in fields.items() if key not in ENVELOPE}
    changes = shown.pop("changes", None)
    return shown, changes if isinstance(changes, dict) else {}


_RENDERERS: dict[str, Callable[[Fields], Rendered]] = {
    "UserCreated": _created,
    "UserMetadataPatched": _bucket_patched(USER_METADATA),
    "AppMetadataPatched": _bucket_patched(APP_METADATA),
    "UserProfileUpdated": _profile_updated,
    "UserDeleted": _deleted,
}
