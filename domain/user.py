"""The User aggregate: a profile whose every change is an immutable event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from metaledger.domain import metadata
from metaledger.domain.errors import UserNotFound
from metaledger.domain.metadata import Changes, Metadata

USER_NAMESPACE = uuid5(NAMESPACE_URL, "https://metaledger.dev/users")
# Stored events and snapshots name their class by topic. The topics keep the module path the
# classes were first stored under, so the events already in a store read back (the topic is also
# part of each event's authenticated data) and new events are filtered with them alike.
STORED_TOPIC = "domain.user:User"

# Root profile attributes a PATCH may set; `password_hash` stands for `password`.
PROFILE_ATTRIBUTES = (
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "username",
    "phone_number",
    "phone_verified",
    "blocked",
    "password_hash",
)
# The profile attributes a user object shows: every one but the password hash.
SHOWN_PROFILE_ATTRIBUTES = tuple(name for name in PROFILE_ATTRIBUTES if name != "password_hash")
REDACTED = "[redacted]"


# Remembered: every read and write of a user derives it, and a name-based UUID costs a SHA-1
# and a UUID object (a twentieth of a warm GET's time).
@lru_cache(maxsize=16_384)
def user_aggregate_id(user_id: str) -> UUID:
    """The event-store id of a user: stable, so a second create of one user_id conflicts."""
    return uuid5(USER_NAMESPACE, user_id)


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, as Auth0 writes timestamps."""
    # isoformat is a few times cheaper than strftime; the relay formats three per event
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def format_stored_timestamp(text: str) -> str:
    """What `format_timestamp` makes of a moment stored as RFC 3339 text (as the transcoder
    writes it: microseconds unless they are zero, then the offset), without parsing it."""
    return text[:23] + "Z" if text[19:20] == "." else text[:19] + ".000Z"


class User(Aggregate):
    """A user of one connection with its two metadata buckets."""

    TOPIC = STORED_TOPIC

    class Created(Aggregate.Created):
        """The library's default creation event; users are created by `UserCreated`."""

        TOPIC = f"{STORED_TOPIC}.Created"

    @staticmethod
    def create_id(user_id: str, **_: Any) -> UUID:
        return user_aggregate_id(user_id)

    @event("UserCreated", topic=f"{STORED_TOPIC}.UserCreated")
    def __init__(
        self,
        user_id: str,
        connection: str,
        profile: dict[str, Any],
        user_metadata: Metadata,
        app_metadata: Metadata,
        actor: dict[str, Any],
    ) -> None:
        self.user_id = user_id
        self.connection = connection
        self.profile: dict[str, Any] = dict(profile)
        self.user_metadata = user_metadata
        self.app_metadata = app_metadata
        self.last_login: str | None = None
        self.last_ip: str | None = None
        self.logins_count = 0
        self.deleted = False

    class UserMetadataPatched(Aggregate.Event):
        TOPIC = f"{STORED_TOPIC}.UserMetadataPatched"
        patch: Metadata | None
        changes: Changes
        actor: dict[str, Any]

        def apply(self, aggregate: User) -> None:
            aggregate.user_metadata = metadata.merge(aggregate.user_metadata, self.patch)

    class AppMetadataPatched(Aggregate.Event):
        TOPIC = f"{STORED_TOPIC}.AppMetadataPatched"
        patch: Metadata | None
        changes: Changes
        actor: dict[str, Any]

        def apply(self, aggregate: User) -> None:
            aggregate.app_metadata = metadata.merge(aggregate.app_metadata, self.patch)

    class UserProfileUpdated(Aggregate.Event):
        """Root attributes set (`None` unsets); `changes` hides password hashes."""

        TOPIC = f"{STORED_TOPIC}.UserProfileUpdated"

        attributes: dict[str, Any]
        changes: Changes
        actor: dict[str, Any]

        def apply(self, aggregate: User) -> None:
            for name, value in self.attributes.items():
                if value is None:
                    aggregate.profile.pop(name, None)
                else:
                    aggregate.profile[name] = value

    class UserDeleted(Aggregate.Event):
        """Carries no personal data, so it stays readable after erasure; `erased` says the
        user's key was destroyed with it (their other events then read as erased)."""

        TOPIC = f"{STORED_TOPIC}.UserDeleted"

        actor: dict[str, Any]
        user_id: str
        erased: bool

        def apply(self, aggregate: User) -> None:
            aggregate.deleted = True

    class UserLoggedIn(Aggregate.Event):
        """A successful password login; `ip` is the end user's address, `client_id` the app."""

        TOPIC = f"{STORED_TOPIC}.UserLoggedIn"

        ip: str | None
        client_id: str
        actor: dict[str, Any]

        def apply(self, aggregate: User) -> None:
            aggregate.last_login = format_timestamp(self.timestamp)
            aggregate.last_ip = self.ip
            aggregate.logins_count += 1

    @property
    def email(self) -> str | None:
        value = self.profile.get("email")
        return value if isinstance(value, str) else None

    def ensure_live(self) -> None:
        if self.deleted:
            raise UserNotFound("The user does not exist.")

    def patch_user_metadata(self, patch: Metadata | None, actor: dict[str, Any]) -> None:
        after = metadata.merge(self.user_metadata, patch)
        self.trigger_event(
            self.UserMetadataPatched,
            patch=patch,
            changes=metadata.changes(self.user_metadata, after),
            actor=actor,
        )

    def patch_app_metadata(self, patch: Metadata | None, actor: dict[str, Any]) -> None:
        after = metadata.merge(self.app_metadata, patch)
        self.trigger_event(
            self.AppMetadataPatched,
            patch=patch,
            changes=metadata.changes(self.app_metadata, after),
            actor=actor,
        )

    def update_profile(self, attributes: dict[str, Any], actor: dict[str, Any]) -> None:
        changes: Changes = {}
        for name, new in attributes.items():
            old = self.profile.get(name)
            if not metadata.same_json(old, new):
                shown = "password" if name == "password_hash" else name
                hidden = name == "password_hash"
                changes[shown] = {
                    "old": REDACTED if hidden and old is not None else old,
                    "new": REDACTED if hidden and new is not None else new,
                }
        self.trigger_event(
            self.UserProfileUpdated, attributes=attributes, changes=changes, actor=actor
        )

    def delete(self, actor: dict[str, Any], erase: bool = False) -> None:
        self.trigger_event(self.UserDeleted, actor=actor, user_id=self.user_id, erased=erase)

    def record_login(self, ip: str | None, client_id: str, actor: dict[str, Any]) -> None:
        self.trigger_event(self.UserLoggedIn, ip=ip, client_id=client_id, actor=actor)

    def __deepcopy__(self, memo: dict[int, Any]) -> User:
        """The repository copies cached users for every command; their state is JSON, which
        orjson copies several times faster than `copy.deepcopy`."""
        clone = object.__new__(type(self))
        clone.__dict__.update(orjson.loads(orjson.dumps(self._json_state())))
        for name, value in self.__dict__.items():
            if name not in clone.__dict__:
                clone.__dict__[name] = list(value) if isinstance(value, list) else value
        return clone

    def _json_state(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.__dict__.items()
            if isinstance(value, dict) or (isinstance(value, list) and not name.startswith("_"))
        }

    def as_auth0(self) -> dict[str, Any]:
        """The Auth0 user object (never the password hash)."""
        return auth0_document(
            self.__dict__, format_timestamp(self.created_on), format_timestamp(self.modified_on)
        )


def auth0_document(state: Mapping[str, Any], created_at: str, updated_at: str) -> dict[str, Any]:
    """The Auth0 user object of a user's state (its attributes, as a snapshot holds them) and
    its two times as Auth0 writes them: read models that keep the state make the document
    without restoring the aggregate."""
    provider, _, bare_id = state["user_id"].partition("|")
    body: dict[str, Any] = {
        "user_id": state["user_id"],
        "created_at": created_at,
        "updated_at": updated_at,
        "identities": [
            {
                "connection": state["connection"],
                "user_id": bare_id,
                "provider": provider,
                "isSocial": False,
            }
        ],
        "user_metadata": state["user_metadata"],
        "app_metadata": state["app_metadata"],
        "logins_count": state["logins_count"],
    }
    profile = state["profile"]
    for name in SHOWN_PROFILE_ATTRIBUTES:
        if name in profile:
            body[name] = profile[name]
    if state["last_login"] is not None:
        body["last_login"] = state["last_login"]
    if state["last_ip"] is not None:
        body["last_ip"] = state["last_ip"]
    return body


USER_AGGREGATE_TOPIC = get_topic(User)


def created_user(**fields: Any) -> User:
    """What `User(**fields)` returns, a new user with its pending UserCreated, made from the
    event directly: the library's decorated constructor first matches the call's arguments
    against the method's signature, which costs as much again (bulk imports make many users)."""
    created = user_created(**fields)
    user: User = created.mutate(None)
    user.pending_events.append(created)
    return user


def user_created(**fields: Any) -> Any:
    """The UserCreated event of a new user with these fields (what `created_user` applies):
    a bulk import's worker processes store it without building the user."""
    return User.UserCreated(  # type: ignore[attr-defined]
        originator_topic=USER_AGGREGATE_TOPIC,
        originator_id=user_aggregate_id(fields["user_id"]),
        originator_version=User.INITIAL_VERSION,
        timestamp=User.UserCreated.create_timestamp(),  # type: ignore[attr-defined]
        **fields,
    )


CREATED_FIELDS = ("user_id", "connection", "profile", "user_metadata", "app_metadata", "actor")


def user_of_created(created: Any) -> User:
    """What `created.mutate(None)` makes of a UserCreated read from the store: the library
    matches the event's fields against two constructors' signatures for each user, which cost
    a bulk reader (the export) a tenth of its time."""
    user: User = object.__new__(User)
    user.__base_init__(created.originator_id, created.originator_version, created.timestamp)
    # The constructor's body, as the library's mutate calls it.
    user.__init__(**{name: vars(created)[name] for name in CREATED_FIELDS})  # type: ignore[misc]
    return user
