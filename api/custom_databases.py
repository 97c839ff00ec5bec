"""Custom-database connections: their scripts run in the sandbox, and lazy migration.

A login on a custom database runs the connection's `login` script (Auth0's contract:
`login(email, password, callback)`), whose queries reach the legacy store as effects. In import
mode the first login the script accepts creates the user here (actor `{kind: "migration"}`,
the password hashed with argon2id) and later logins are local; without it every login goes
through the script and the profile it returns is kept up to date as events. In the scripts
`app_metadata` is called `metadata`; Auth0's newer templates write `app_metadata`, so either
is read, and both with different contents is an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from metaledger.api.connection_store import (
    CONFIGURATION,
    IMPORT_MODE,
    SCRIPTS,
    ConnectionRegistry,
    is_custom,
)
from metaledger.api.sandbox.egress import Egress, EgressRefused
from metaledger.api.sandbox.legacy_store import (
    LegacyPools,
    LegacySessions,
    LegacyStoreRefused,
    bcrypt_effect,
)
from metaledger.api.sandbox.pipeline import (
    MAX_EFFECTS,
    OUT_OF_TIME,
    TOO_MANY_EFFECTS,
    SandboxBusy,
)
from metaledger.api.sandbox.pool import SandboxFailure, Setup, WorkerPool
from metaledger.domain.actor import Actor
from metaledger.domain.errors import DomainError, UserAlreadyExists
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import NewUser, UserProfiles, UserUpdate
from metaledger.domain.user import User

# The scripts' name for app_metadata.
METADATA = "metadata"
# Root attributes a legacy profile carries over (beside email and the two buckets).
PROFILE_FIELDS = ("email_verified", "name", "nickname", "given_name", "family_name", "picture")
MIGRATION = "migration"
# Who keeps a user of a connection without import mode in step with the legacy profile.
LEGACY_SYNC = "custom-database"


class ScriptFailed(Exception):
    """The script failed, ran out of time, or answered something unusable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ScriptRefused(Exception):
    """The script refused with a `ValidationError(code, message)`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WrongPassword(Exception):
    """The script said the credentials are wrong (WrongUsernameOrPasswordError, or no profile)."""


@dataclass(frozen=True)
class LegacyProfile:
    """What a script returned, in metaledger's terms."""

    email: str
    profile: dict[str, Any]
    user_metadata: dict[str, Any]
    app_metadata: dict[str, Any]


class CustomDatabases:
    def __init__(
        self,
        connections: ConnectionRegistry,
        pool: WorkerPool,
        profiles: UserProfiles,
        egress: Egress,
        *,
        seconds: float,
        legacy: LegacyPools,
        issuer: str,
    ) -> None:
        self.connections = connections
        self.pool = pool
        self.profiles = profiles
        self.egress = egress
        self.seconds = seconds
        self.legacy = legacy
        self.issuer = issuer

    def custom(self, name: str) -> dict[str, Any] | None:
        """The stored connection `name` when it is a custom database."""
        if self.connections.configured.by_name(name) is not None:
            return None  # configured connections hold their users here: no lookup per login
        document = self.connections.stored_by_name(name)
        return document if is_custom(document) else None

    def login(self, connection: dict[str, Any], email: str, password: str) -> User:
        """The user the `login` script accepts, created or kept up to date here; raises
        WrongPassword, ScriptFailed or ScriptRefused."""
        value = self.run(connection, "login", [email, password])
        if value is None:
            raise WrongPassword
        legacy = legacy_profile(value)
        name = connection["name"]
        if connection["options"].get(IMPORT_MODE) is True:
            return self._migrate(name, legacy, password)
        return self._kept_in_step(name, legacy)

    def get_user(self, connection: dict[str, Any], email: str) -> LegacyProfile | None:
        """The legacy store's profile of `email` (its `get_user` script), or None."""
        if not connection["options"].get(SCRIPTS, {}).get("get_user"):
            return None
        value = self.run(connection, "get_user", [email])
        return legacy_profile(value) if value is not None else None

    def create(self, connection: dict[str, Any], user: dict[str, Any]) -> None:
        """The `create` script, given the user with app_metadata under both its names."""
        if not connection["options"].get(SCRIPTS, {}).get("create"):
            return
        app_metadata = user.get(APP_METADATA) or {}
        self.run(
            connection, "create", [{**user, APP_METADATA: app_metadata, METADATA: app_metadata}]
        )

    def local_user(self, connection: str, email: str) -> User | None:
        for user in self.profiles.users_by_email(email.strip().lower()):
            if user.connection == connection:
                return user
        return None

    def run(self, connection: dict[str, Any], script: str, args: list[Any]) -> Any:
        """The value the script passed to its callback; raises WrongPassword, ScriptRefused
        or ScriptFailed."""
        scripts = connection["options"].get(SCRIPTS) or {}
        if not scripts.get(script):
            raise ScriptFailed(f"the connection has no {script} script")
        configuration = connection["options"].get(CONFIGURATION) or {}
        sessions = LegacySessions(self.legacy, frozenset(configuration.values()))
        carried_out = 0

        def execute(effects: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal carried_out
            answers = []
            for effect in effects:
                carried_out += 1
                if carried_out > MAX_EFFECTS:
                    answers.append({"id": effect["id"], "ok": False, "error": TOO_MANY_EFFECTS})
                else:
                    answers.append(self._effect(effect, sessions))
            return answers

        try:
            done = self.pool.run(
                self._setup(connection), {"script": script, "args": args}, self.seconds, execute
            )
        except SandboxFailure as failure:
            if failure.kind == "busy":
                raise SandboxBusy(failure.message) from None
            message = OUT_OF_TIME if failure.kind == "timeout" else failure.message
            raise ScriptFailed(message) from None
        finally:
            sessions.close()
        result: dict[str, Any] = done["result"]
        outcome = result["outcome"]
        if outcome["kind"] == "wrong":
            raise WrongPassword
        if outcome["kind"] == "validation":
            raise ScriptRefused(outcome["code"], outcome["message"])
        if outcome["kind"] != "ok":
            raise ScriptFailed(outcome["message"])
        return result["value"]

    def _setup(self, connection: dict[str, Any]) -> Setup:
        body: dict[str, Any] = {
            "rules": [],
            "actions": [],
            "scripts": {
                name: code for name, code in connection["options"][SCRIPTS].items() if code
            },
            "configuration": connection["options"].get(CONFIGURATION) or {},
            "domain": urlsplit(self.issuer).netloc,
            "base_url": self.issuer,
        }
        key = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return Setup(key, body)

    def _effect(self, effect: dict[str, Any], sessions: LegacySessions) -> dict[str, Any]:
        payload = effect["payload"]
        try:
            if effect["kind"] == "sql":
                value: Any = sessions.query(payload)
            elif effect["kind"] == "bcrypt":
                value = bcrypt_effect(payload)
            elif effect["kind"] == "http":
                value = self.egress.send(payload)
            else:
                return {"id": effect["id"], "ok": False, "error": "not available to this script"}
        except (LegacyStoreRefused, EgressRefused) as error:
            return {"id": effect["id"], "ok": False, "error": str(error)}
        return {"id": effect["id"], "ok": True, "value": value}

    def _migrate(self, connection: str, legacy: LegacyProfile, password: str) -> User:
        """The user created from the legacy profile, with the password hashed here."""
        new = NewUser(
            connection=connection,
            profile={"email": legacy.email, **legacy.profile},
            user_metadata=legacy.user_metadata,
            app_metadata=legacy.app_metadata,
            password=password,
        )
        try:
            return self.profiles.create_user(new, Actor(kind=MIGRATION, id=connection)).user
        except UserAlreadyExists:
            # Two first logins at once: the other one migrated the user.
            found = self.local_user(connection, legacy.email)
            if found is None:
                raise
            return found
        except DomainError as error:
            raise ScriptFailed(f"the profile the script returned is not valid: {error}") from None

    def _kept_in_step(self, connection: str, legacy: LegacyProfile) -> User:
        """The local copy of a user the legacy store keeps: created at the first login, and
        updated when the profile the script returns changed."""
        actor = Actor(kind=LEGACY_SYNC, id=connection)
        user = self.local_user(connection, legacy.email)
        try:
            if user is None:
                new = NewUser(
                    connection=connection,
                    profile={"email": legacy.email, **legacy.profile},
                    user_metadata=legacy.user_metadata,
                    app_metadata=legacy.app_metadata,
                )
                return self.profiles.create_user(new, actor).user
            update = _changes(user, legacy)
            if update is None:
                return user
            return self.profiles.update_user(user.user_id, update, actor).user
        except DomainError as error:
            raise ScriptFailed(f"the profile the script returned is not valid: {error}") from None


def legacy_profile(value: Any) -> LegacyProfile:
    """The script's profile; ScriptFailed when it is not one."""
    if not isinstance(value, dict):
        raise ScriptFailed("the script must return a profile object")
    email = value.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ScriptFailed("the profile the script returned has no email")
    metadata, app_metadata = value.get(METADATA), value.get(APP_METADATA)
    if metadata is not None and app_metadata is not None and metadata != app_metadata:
        raise ScriptFailed(
            "the profile the script returned has both metadata and app_metadata, with "
            "different contents: return app_metadata under one of the two names"
        )
    buckets = {}
    for bucket, given in (
        (USER_METADATA, value.get(USER_METADATA)),
        (APP_METADATA, metadata if metadata is not None else app_metadata),
    ):
        if given is not None and not isinstance(given, dict):
            raise ScriptFailed(
                f"the profile the script returned has a {bucket} that is not an object"
            )
        buckets[bucket] = given or {}
    profile = {name: value[name] for name in PROFILE_FIELDS if value.get(name) is not None}
    return LegacyProfile(
        email=email.strip().lower(),
        profile=profile,
        user_metadata=buckets[USER_METADATA],
        app_metadata=buckets[APP_METADATA],
    )


def _changes(user: User, legacy: LegacyProfile) -> UserUpdate | None:
    """What makes the local user match the legacy profile (a key gone from a bucket is
    removed), or None when nothing changed."""
    profile = {
        name: value for name, value in legacy.profile.items() if user.profile.get(name) != value
    }
    buckets: dict[str, dict[str, Any] | None] = {}
    for bucket, now, wanted in (
        (USER_METADATA, user.user_metadata, legacy.user_metadata),
        (APP_METADATA, user.app_metadata, legacy.app_metadata),
    ):
        if now != wanted:
            buckets[bucket] = {**{key: None for key in now if key not in wanted}, **wanted}
    if not profile and not buckets:
        return None
    return UserUpdate(profile=profile, buckets=buckets)
