"""The UserProfiles application service: commands and immediately consistent reads."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import random
import re
import secrets
import time
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Recording

from metaledger.domain import metadata
from metaledger.domain.actor import Actor
from metaledger.domain.application import ProfilesApplication
from metaledger.domain.errors import (
    EmailAlreadyInUse,
    InvalidRequest,
    UnknownConnection,
    UserAlreadyExists,
    UserNotFound,
)
from metaledger.domain.metadata import APP_METADATA, USER_METADATA, Metadata, MetadataLimits
from metaledger.domain.ports import EmailClaim, EmailTakenError, PasswordHasher
from metaledger.domain.user import User, created_user, user_aggregate_id

DEFAULT_CONNECTION = "Username-Password-Authentication"
# A PATCH that keeps losing the optimistic-concurrency race is retried this often.
MAX_WRITE_ATTEMPTS = 50
# C0, DEL and C1: refused in emails and user ids, which are compared and shown as they are.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER_MESSAGE = "String may not contain control characters"


@dataclass(frozen=True)
class NewUser:
    connection: str
    profile: dict[str, Any] = field(default_factory=dict)
    user_metadata: Metadata = field(default_factory=dict)
    app_metadata: Metadata = field(default_factory=dict)
    user_id: str | None = None
    password: str | None = None  # stored as its hash


@dataclass(frozen=True)
class UserUpdate:
    """What a PATCH sent: root attributes (None unsets), the metadata buckets present, a new
    password, and the connection the caller names (it must exist)."""

    profile: dict[str, Any] = field(default_factory=dict)
    buckets: dict[str, Metadata | None] = field(default_factory=dict)
    password: str | None = None
    connection: str | None = None


@dataclass(frozen=True)
class Written:
    """A user after a command, and the notification position of the last event it stored."""

    user: User
    position: int | None


class ConcurrentUpdateError(Exception):
    """A write lost the optimistic-concurrency race more than MAX_WRITE_ATTEMPTS times."""


class UserProfiles(ProfilesApplication):
    """The commands on users and their immediately consistent reads."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        connections: Container[str] = frozenset({DEFAULT_CONNECTION}),
        limits: MetadataLimits | None = None,
        passwords: PasswordHasher | None = None,
    ) -> None:
        super().__init__(env)
        self.connections = connections
        self.limits = limits or MetadataLimits()
        self.passwords = passwords

    # Commands

    def create_user(self, new: NewUser, actor: Actor) -> Written:
        user, claims = self.new_user(new, actor)
        try:
            recordings = self.save(user, email_claims=claims)
        except (IntegrityError, EmailTakenError):
            raise UserAlreadyExists("The user already exists.") from None
        return Written(user, _last_position(recordings))

    def new_user(
        self, new: NewUser, actor: Actor, password_hash: str | None = None, *, owned: bool = False
    ) -> tuple[User, list[EmailClaim]]:
        """The checked, not yet saved user of `new` and the email claims its save makes (bulk
        imports save many of them at once, with hashes made elsewhere). `owned`: nothing but
        the new user will hold `new`'s values, so they need no copy."""
        if new.connection not in self.connections:
            raise UnknownConnection("Connection does not exist.")
        fields = new_user_fields(new, actor, self.limits, password_hash)
        if not owned:
            # Copied only once checked: the checks bound the nesting the copy recurses into.
            fields = copy.deepcopy(fields)
        if password_hash is None and new.password is not None:
            fields["profile"]["password_hash"] = self._hash(new.password)
        user = created_user(**fields)
        return user, self._email_claims(user, previous_email=None)

    def update_user(self, user_id: str, update: UserUpdate, actor: Actor) -> Written:
        if update.connection is not None and update.connection not in self.connections:
            raise InvalidRequest("Connection does not exist.")
        for bucket, patch in update.buckets.items():
            if patch is not None:
                metadata.validate_patch(bucket, patch, self.limits)
        _check_profile(update.profile)
        # Copied only once checked: the checks bound the nesting that the copy recurses into.
        update = copy.deepcopy(update)
        if update.password is not None:
            update.profile["password_hash"] = self._hash(update.password)
        for attempt in range(MAX_WRITE_ATTEMPTS):
            user = self.get_user(user_id)
            previous_email = user.email
            self._apply_update(user, update, actor)
            try:
                recordings = self.save(user, email_claims=self._email_claims(user, previous_email))
            except EmailTakenError:
                raise EmailAlreadyInUse("The specified new email already exists") from None
            except IntegrityError:
                _back_off(attempt)
                continue
            return Written(user, _last_position(recordings))
        raise ConcurrentUpdateError(user_id)

    def delete_user(self, user_id: str, actor: Actor, *, erase: bool = False) -> int | None:
        """Records UserDeleted; a user that does not exist is not an error (Auth0 gives 204).

        With `erase`, the same transaction destroys the user's key, so their personal data
        can no longer be read anywhere; a user deleted earlier without it can still be erased.
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            user = self._user_to_delete(user_id, erase)
            if user is None:
                return None
            email = None if user.deleted else user.email
            user.delete(actor.as_dict(), erase=erase)
            claims = [EmailClaim(user.connection, email, user.user_id, False)] if email else []
            try:
                recordings = self.save(user, email_claims=claims)
            except IntegrityError:
                _back_off(attempt)
                continue
            if erase and self.repository.cache is not None:
                # The cached aggregate still holds what the destroyed key protected.
                with contextlib.suppress(KeyError):
                    self.repository.cache.get(user.id, evict=True)
            return _last_position(recordings)
        raise ConcurrentUpdateError(user_id)

    def record_login(self, user_id: str, ip: str | None, client_id: str, actor: Actor) -> Written:
        """Records UserLoggedIn: last_login, last_ip and logins_count follow from it."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            user = self.get_user(user_id)
            user.record_login(ip, client_id, actor.as_dict())
            try:
                return Written(user, _last_position(self.save(user)))
            except IntegrityError:
                _back_off(attempt)
        raise ConcurrentUpdateError(user_id)

    def _user_to_delete(self, user_id: str, erase: bool) -> User | None:
        try:
            user = cast(User, self.repository.get(user_aggregate_id(user_id)))
        except AggregateNotFoundError:
            return None
        if user.deleted:
            self.keys.forget(user.id)
            record = self.keys.record(user.id)
            if not (erase and record is not None and record.key is not None):
                return None
        return user

    # Queries

    def get_user(self, user_id: str, version: int | None = None) -> User:
        try:
            user: User = self.repository.get(
                user_aggregate_id(user_id), version=version, projector_func=replay
            )
        except AggregateNotFoundError:
            raise UserNotFound("The user does not exist.") from None
        user.ensure_live()
        return user

    def users_by_email(self, email: str) -> list[User]:
        if has_control_character(email):
            # No user has such an email, and PostgreSQL cannot even compare text holding NUL.
            return []
        users = []
        for user_id in self.email_index.user_ids_by_email(email):
            try:
                users.append(self.get_user(user_id))
            except UserNotFound:
                continue
        return users

    # Rules

    def _apply_update(self, user: User, update: UserUpdate, actor: Actor) -> None:
        recorded_actor = actor.as_dict()
        if USER_METADATA in update.buckets:
            patch = update.buckets[USER_METADATA]
            after = metadata.merge(user.user_metadata, patch)
            metadata.check_limits(USER_METADATA, after, self.limits)
            user.patch_user_metadata(patch, recorded_actor)
        if APP_METADATA in update.buckets:
            patch = update.buckets[APP_METADATA]
            after = metadata.merge(user.app_metadata, patch)
            metadata.check_limits(APP_METADATA, after, self.limits)
            user.patch_app_metadata(patch, recorded_actor)
        if update.profile:
            attributes = dict(update.profile)
            email = attributes.get("email")
            if isinstance(email, str):
                attributes["email"] = email = email.lower()
                if email != user.email:
                    attributes.setdefault("email_verified", False)
            user.update_profile(attributes, recorded_actor)

    @staticmethod
    def _email_claims(user: User, previous_email: str | None) -> list[EmailClaim]:
        return email_claims(user.connection, user.user_id, user.email, previous_email)

    def _hash(self, password: str) -> str:
        if self.passwords is None:
            raise InvalidRequest("Passwords are not accepted here.")
        return self.passwords.hash(password)


def new_user_fields(
    new: NewUser, actor: Actor, limits: MetadataLimits, password_hash: str | None
) -> dict[str, Any]:
    """The checked fields of the UserCreated that `new` makes (its connection aside): they
    hold `new`'s metadata values themselves, not copies."""
    for bucket, value in ((USER_METADATA, new.user_metadata), (APP_METADATA, new.app_metadata)):
        # A new bucket is the patch itself: validate_patch has bounded its depth.
        metadata.validate_patch(bucket, value, limits)
        metadata.check_size(bucket, value, limits)
    _check_profile(new.profile)
    user_id = new_user_id(new.user_id)
    profile = with_profile_defaults(new.profile)
    if password_hash is not None:
        profile["password_hash"] = password_hash
    return {
        "user_id": user_id,
        "connection": new.connection,
        "profile": profile,
        "user_metadata": new.user_metadata,
        "app_metadata": new.app_metadata,
        "actor": actor.as_dict(),
    }


def new_user_id(requested: str | None) -> str:
    """The id a new user gets: the one requested, checked (with the default provider), or a
    random one."""
    if requested is None:
        return f"auth0|{secrets.token_hex(12)}"
    if not requested or len(requested) > 255 or any(c.isspace() for c in requested):
        raise InvalidRequest("Payload validation error: 'user_id' is not valid.")
    if has_control_character(requested):
        raise metadata.payload_error(CONTROL_CHARACTER_MESSAGE, "user_id")
    if "/" in requested:
        # The router decodes %2F before matching, so /users/{id} could never reach the user.
        raise metadata.payload_error(f'String may not contain "/": {requested}', "user_id")
    user_id = requested if "|" in requested else f"auth0|{requested}"
    # What GET, PATCH and DELETE accept (^.+\|.+$): a provider, "|", an id within it.
    if "|" not in user_id[1:-1]:
        raise metadata.payload_error(
            f"String does not match pattern ^.+\\|.+$: {user_id}", "user_id"
        )
    return user_id


def with_profile_defaults(profile: dict[str, Any]) -> dict[str, Any]:
    """Auth0's defaults: lowercased email, name = email, nickname = its local part."""
    profile = {key: value for key, value in profile.items() if value is not None}
    email = profile.get("email")
    if isinstance(email, str):
        profile["email"] = email = email.lower()
        profile.setdefault("email_verified", False)
        profile.setdefault("name", email)
        profile.setdefault("nickname", email.split("@", 1)[0])
        digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
        profile.setdefault(
            "picture", f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=identicon"
        )
    else:
        fallback = profile.get("username") or profile.get("phone_number")
        if fallback:
            profile.setdefault("name", fallback)
            profile.setdefault("nickname", fallback)
    return profile


def email_claims(
    connection: str, user_id: str, email: str | None, previous_email: str | None
) -> list[EmailClaim]:
    """The email index writes of a user whose email went from `previous_email` to `email`."""
    if email == previous_email:
        return []
    claims = []
    if previous_email:
        claims.append(EmailClaim(connection, previous_email, user_id, False))
    if email:
        claims.append(EmailClaim(connection, email, user_id, True))
    return claims


def has_control_character(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _check_profile(profile: Mapping[str, Any]) -> None:
    """Root attributes as sent: no text holds NUL, and an email no control character."""
    for name, value in profile.items():
        if name == "email" and isinstance(value, str) and has_control_character(value):
            raise metadata.payload_error(CONTROL_CHARACTER_MESSAGE, name)
        metadata.check_storable(name, None, value)


def replay(user: User | None, events: Iterable[Any]) -> User | None:
    """Folds events into the user: the library's default projector checks each event against
    a runtime Protocol, which costs more than the fold itself."""
    for domain_event in events:
        user = domain_event.mutate(user)
    return user


def _last_position(recordings: Sequence[Recording[UUID]]) -> int | None:
    return recordings[-1].notification.id if recordings else None


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
