"""The searchable fields of a user: where each one lives and how its values compare.

Root profile fields have a typed, indexed column each. Metadata is searched by dotted path
(`app_metadata.subscription.plan`) in a table of its own, see `documents.metadata_entries`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

USER_METADATA = "user_metadata"
APP_METADATA = "app_metadata"
METADATA_BUCKETS = (USER_METADATA, APP_METADATA)
EXISTS_FIELD = "_exists_"


class Kind(Enum):
    TEXT = "text"  # compared as stored (case-sensitive)
    FOLDED_TEXT = "folded_text"  # stored and compared lowercased (case-insensitive)
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DATE = "date"  # ISO-8601 text in UTC, so text order is time order


@dataclass(frozen=True)
class RootField:
    name: str
    column: str
    kind: Kind
    nullable: bool = True
    # Where the value is in an Auth0 user object, when not under the field's name.
    read: Callable[[dict[str, Any]], Any] | None = None


def _email_domain(user: dict[str, Any]) -> str | None:
    email = user.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    return email.rpartition("@")[2]


def _connection(user: dict[str, Any]) -> Any:
    identities = user.get("identities") or [{}]
    return identities[0].get("connection")


def _field(name: str, kind: Kind, *, nullable: bool = True) -> RootField:
    return RootField(name, name, kind, nullable)


ROOT_FIELDS: dict[str, RootField] = {
    field.name: field
    for field in (
        _field("user_id", Kind.TEXT, nullable=False),
        _field("email", Kind.FOLDED_TEXT),
        RootField("email.domain", "email_domain", Kind.FOLDED_TEXT, read=_email_domain),
        _field("name", Kind.FOLDED_TEXT),
        _field("given_name", Kind.FOLDED_TEXT),
        _field("family_name", Kind.FOLDED_TEXT),
        _field("nickname", Kind.FOLDED_TEXT),
        _field("username", Kind.TEXT),
        RootField("identities.connection", "connection", Kind.TEXT, False, _connection),
        _field("phone_number", Kind.TEXT),
        _field("last_ip", Kind.TEXT),
        _field("blocked", Kind.BOOLEAN),
        _field("email_verified", Kind.BOOLEAN),
        _field("phone_verified", Kind.BOOLEAN),
        _field("created_at", Kind.DATE, nullable=False),
        _field("updated_at", Kind.DATE, nullable=False),
        _field("last_login", Kind.DATE),
        _field("logins_count", Kind.INTEGER, nullable=False),
    )
}
COLUMNS: tuple[str, ...] = tuple(field.column for field in ROOT_FIELDS.values())

# A term without a field looks in these (never in metadata, as Auth0 promises for user_metadata).
BARE_TERM_FIELDS: tuple[RootField, ...] = tuple(
    ROOT_FIELDS[name]
    for name in (
        "user_id",
        "email",
        "name",
        "given_name",
        "family_name",
        "nickname",
        "username",
        "phone_number",
    )
)


def metadata_bucket(name: str) -> str | None:
    """`user_metadata` or `app_metadata` when `name` is that bucket or a path inside it."""
    for bucket in METADATA_BUCKETS:
        if name == bucket or name.startswith(bucket + "."):
            return bucket
    return None
