"""What the audit read model holds: per-key change rows and Auth0-shaped log records.

An event becomes one log record (its Auth0 type code, the actor, and in `details` the per-key
diff) and one change row per key it changed. Everything here is derived from the event and its
position alone, so a rebuild writes the same rows, with the same log ids, as the live projector.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from metaledger.domain.erasure import is_erased
from metaledger.domain.timeline import entry_for
from metaledger.domain.user import User, format_timestamp

# Log ids sort as their time: the microseconds since the epoch, then the source (events
# before records written directly at the same microsecond), then the position or a random
# number. Fixed width, digits only.
_TIME_DIGITS = 17
_NUMBER_DIGITS = 19
FROM_EVENT = "0"
FROM_API = "1"

# Auth0's log event type codes, with the descriptions its dashboard shows.
SUCCESS_LOGIN = "s"
FAILED_LOGIN = "f"
WRONG_PASSWORD = "fp"
UNKNOWN_USER = "fu"
BLOCKED_ACCOUNT = "limit_wc"
BLOCKED_IP = "limit_mu"
SUCCESS_SIGNUP = "ss"
FAILED_SIGNUP = "fs"
SUCCESS_API = "sapi"
FAILED_API = "fapi"
SUCCESS_DELETION = "sdu"
SUCCESS_EXCHANGE = "seccft"
FAILED_EXCHANGE = "feccft"
TYPE_CODES = {
    SUCCESS_LOGIN: "Success Login",
    FAILED_LOGIN: "Failed Login",
    WRONG_PASSWORD: "Wrong password",
    UNKNOWN_USER: "Invalid email or username",
    BLOCKED_ACCOUNT: "Blocked Account",
    BLOCKED_IP: "Blocked IP Address",
    SUCCESS_SIGNUP: "Success Signup",
    FAILED_SIGNUP: "Failed Signup",
    SUCCESS_API: "Success API Operation",
    FAILED_API: "Failed API Operation",
    SUCCESS_DELETION: "Successful User Deletion",
    SUCCESS_EXCHANGE: "Success Exchange",
    FAILED_EXCHANGE: "Failed Exchange",
}
# What each event did, as the record's description.
DESCRIPTIONS = {
    "UserCreated": "Create a User",
    "UserMetadataPatched": "Update a User",
    "AppMetadataPatched": "Update a User",
    "UserProfileUpdated": "Update a User",
    "UserDeleted": "Delete a User",
    "UserLoggedIn": "Successful login",
}
# A log record's searchable text fields, in its table's column order.
LOG_FIELDS = (
    "log_id",
    "date",
    "type",
    "description",
    "user_id",
    "user_name",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "connection",
)
# Actors that stand for an application: their id is a client id.
CLIENT_KINDS = frozenset({"client", "self-signup"})


def log_id(moment: datetime, source: str, number: int) -> str:
    micros = int(moment.timestamp() * 1_000_000)
    return f"{micros:0{_TIME_DIGITS}d}{source}{number:0{_NUMBER_DIGITS}d}"


def new_log_id(moment: datetime) -> str:
    """The id of a record written directly: random after its time, so ids never repeat."""
    return log_id(moment, FROM_API, secrets.randbits(63))


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def instant(micros_since_epoch: int) -> datetime:
    return datetime.fromtimestamp(micros_since_epoch / 1_000_000, UTC)


@dataclass(frozen=True)
class LogRecord:
    """One entry of Auth0's logs; `position`, `aggregate_id` and `version` link it to its
    event (None for records written directly by the API)."""

    log_id: str
    date: str
    type: str
    description: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    connection: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    position: int | None = None
    aggregate_id: UUID | None = None
    version: int | None = None

    def as_auth0(self) -> dict[str, Any]:
        """The record as Auth0's logs API returns it: absent fields left out."""
        body: dict[str, Any] = {}
        for name in LOG_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        body["details"] = self.details
        return body

    def details_json(self) -> str:
        return orjson.dumps(self.details).decode()


@dataclass(frozen=True)
class ChangeRow:
    """One key an event changed: `old` and `new` as JSON (None where there was no value)."""

    position: int
    seq: int
    aggregate_id: UUID
    user_id: str
    key: str
    old: Any
    new: Any
    event: str
    version: int
    at: int  # microseconds since the epoch
    actor_kind: str | None
    actor_id: str | None
    client_id: str | None
    request_id: str | None
    ip: str | None

    def terms(self) -> list[tuple[str, str]]:
        """(side, text) pairs a filter on values finds the row by: `to` for the new value
        and each item an array gained, `from` for the old value and each item it lost."""
        found = [("to", text) for text in _texts(self.new, self.old)]
        found += [("from", text) for text in _texts(self.old, self.new)]
        return found

    def cursor(self) -> str:
        """A checkpoint: the rows older than this one come after it."""
        return f"{self.at}.{self.position}.{self.seq}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "event": self.event,
            "version": self.version,
            "position": self.position,
            "date": format_timestamp(instant(self.at)),
            "actor": {"kind": self.actor_kind, "id": self.actor_id},
            "client_id": self.client_id,
            "request_id": self.request_id,
            "ip": self.ip,
        }


def _texts(value: Any, other: Any) -> list[str]:
    if isinstance(value, list):
        before = other if isinstance(other, list) else []
        kept = {term_text(item) for item in before}
        texts = (term_text(item) for item in value)
        return list(dict.fromkeys(text for text in texts if text and text not in kept))
    text = term_text(value)
    return [text] if text else []


def term_text(value: Any) -> str:
    """How a value is matched by `to=`/`from=`: a string as itself, other JSON as JSON text;
    "" for no value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass
class AuditUser:
    """What log records name a user by, kept by the projector from the user's events."""

    user_id: str
    user_name: str | None
    connection: str | None


def client_of(actor: dict[str, Any] | None) -> str | None:
    if actor and actor.get("kind") in CLIENT_KINDS:
        value = actor.get("id")
        return value if isinstance(value, str) else None
    return None


def event_type(name: str, actor: dict[str, Any] | None) -> str:
    if name == "UserCreated":
        return SUCCESS_SIGNUP if (actor or {}).get("kind") == "self-signup" else SUCCESS_API
    if name == "UserDeleted":
        return SUCCESS_DELETION
    if name == "UserLoggedIn":
        return SUCCESS_LOGIN
    return SUCCESS_API


def track(users: dict[UUID, AuditUser], event: User.Event) -> AuditUser:
    """The user as known after `event` (the user name follows the email)."""
    fields = vars(event)
    current = users.get(event.originator_id)
    if current is None:
        profile = fields.get("profile") or {}
        email = profile.get("email") if isinstance(profile, dict) else None
        current = AuditUser(
            user_id=str(fields.get("user_id") or ""),
            user_name=email if isinstance(email, str) and email else None,
            connection=fields.get("connection") or None,
        )
        users[event.originator_id] = current
    attributes = fields.get("attributes")
    if isinstance(attributes, dict) and "email" in attributes:
        email = attributes["email"]
        current.user_name = email if isinstance(email, str) and email else None
    return current


def render(position: int, event: User.Event, user: AuditUser) -> tuple[LogRecord, list[ChangeRow]]:
    """The log record and change rows of one event (of an erased user: no values, no keys)."""
    entry = entry_for(event)
    fields = vars(event)
    actor = entry.actor or {}
    erased = is_erased(event)
    client_id = client_of(actor)
    ip = actor.get("ip")
    if entry.event == "UserLoggedIn":
        client_id = fields.get("client_id") or None
        ip = fields.get("ip") or None
    details: dict[str, Any] = {
        "event": entry.event,
        "version": entry.version,
        "position": position,
        "actor": actor,
    }
    if erased:
        details["erased"] = True
    elif entry.changes:
        details["changes"] = entry.changes
    at = micros(entry.timestamp)
    record = LogRecord(
        log_id=log_id(entry.timestamp, FROM_EVENT, position),
        date=format_timestamp(entry.timestamp),
        type=event_type(entry.event, actor),
        description=DESCRIPTIONS.get(entry.event, entry.event),
        user_id=user.user_id or None,
        user_name=None if erased else user.user_name,
        client_id=client_id,
        ip=ip,
        connection=user.connection,
        details=details,
        position=position,
        aggregate_id=event.originator_id,
        version=entry.version,
    )
    changes = [
        ChangeRow(
            position=position,
            seq=seq,
            aggregate_id=event.originator_id,
            user_id=user.user_id,
            key=key,
            old=change.get("old"),
            new=change.get("new"),
            event=entry.event,
            version=entry.version,
            at=at,
            actor_kind=actor.get("kind"),
            actor_id=actor.get("id"),
            client_id=client_id,
            request_id=actor.get("request_id"),
            ip=actor.get("ip"),
        )
        for seq, (key, change) in enumerate(sorted((entry.changes or {}).items()))
    ]
    return record, changes
