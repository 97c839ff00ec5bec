"""The login pipeline's tenant code: Rules in order, then the Actions bound to the trigger.

Builds Auth0's `user`/`context` (Rules) and `event` (Actions) from a login, runs them in the
worker pool under one deadline, and carries out their effects: each rule's metadata write is
committed when the rule makes it (actor `{kind: "rule", id, request_id}`), so a write made
before a later deny persists; the Actions' `setUserMetadata`/`setAppMetadata` calls are
aggregated and written once per bucket at the end of the flow, even when it denies (actor
`{kind: "action", id}`). What the code adds to `context.idToken`/`accessToken` (or through
`api.idToken`/`api.accessToken`) comes back as claims.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from metaledger.api.auth.claims import OIDC_RESERVED_CLAIMS
from metaledger.api.auth.tokens import USERINFO_CLAIMS
from metaledger.api.code_store import ACTION, BINDINGS, RULE, RULES_CONFIG, TenantCode
from metaledger.api.sandbox.egress import Egress, EgressRefused
from metaledger.api.sandbox.pool import SandboxFailure, Setup, WorkerPool
from metaledger.domain.actor import Actor
from metaledger.domain.errors import DomainError
from metaledger.domain.metadata import APP_METADATA, USER_METADATA
from metaledger.domain.profiles import UserProfiles, UserUpdate
from metaledger.domain.user import User

log = logging.getLogger("metaledger.sandbox")

POST_LOGIN = "post-login"
PRE_USER_REGISTRATION = "pre-user-registration"
TRIGGERS = (POST_LOGIN, PRE_USER_REGISTRATION)
HANDLERS = {POST_LOGIN: "onExecutePostLogin", PRE_USER_REGISTRATION: "onExecutePreUserRegistration"}
# Writes and requests one login's code may make: a loop of writes must not fill the event log.
MAX_EFFECTS = 100
TOO_MANY_EFFECTS = f"more than {MAX_EFFECTS} metadata writes and requests in one login"
# Auth0's words when the pipeline runs out of time.
OUT_OF_TIME = "Request to Webtask exceeded allowed execution time"
# Claims the code may not set: the token's own, and those the service reads back.
RESERVED_CLAIMS = OIDC_RESERVED_CLAIMS | {USERINFO_CLAIMS}


class CodeRefused(Exception):
    """The tenant's code ended the flow: denied it (`denied`), or failed."""

    def __init__(self, message: str, *, denied: bool) -> None:
        super().__init__(message)
        self.message = message
        self.denied = denied


class SandboxBusy(Exception):
    """No worker came free before the deadline."""


@dataclass(frozen=True)
class Login:
    """What the code learns about the flow it runs in."""

    client_id: str
    client_name: str
    connection: str
    ip: str
    user_agent: str
    hostname: str
    request_id: str
    protocol: str = "oauth2-resource-owner"
    scopes: tuple[str, ...] = ()


@dataclass
class Claims:
    """What the code added to the ID token and the access token."""

    id_token: dict[str, Any] = field(default_factory=dict)
    access_token: dict[str, Any] = field(default_factory=dict)
    ran: bool = False  # whether any code ran (and so may have changed the user)

    def add(self, id_token: dict[str, Any], access_token: dict[str, Any]) -> None:
        self.id_token.update(_allowed(id_token))
        self.access_token.update(_allowed(access_token))


def _allowed(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if name not in RESERVED_CLAIMS}


class TenantPipeline:
    def __init__(
        self,
        code: TenantCode,
        pool: WorkerPool,
        profiles: UserProfiles,
        egress: Egress,
        *,
        seconds: float,
        issuer: str,
    ) -> None:
        self.code = code
        self.pool = pool
        self.profiles = profiles
        self.egress = egress
        self.seconds = seconds
        self.issuer = issuer

    def setup(self, trigger: str) -> Setup | None:
        """The code that runs on `trigger` (Rules only run after logins); None when none does."""
        rules = [
            {"id": rule["id"], "name": rule["name"], "script": rule["script"]}
            for rule in self.code.all(RULE)
            if rule["enabled"] and trigger == POST_LOGIN
        ]
        actions = []
        for bound in self.code.get(BINDINGS, trigger) or []:
            action = self.code.get(ACTION, bound["action_id"])
            deployed = action and action.get("deployed_version")
            if deployed:
                actions.append(
                    {
                        "id": action["id"],
                        "name": action["name"],
                        "code": deployed["code"],
                        "secrets": deployed["secrets"],
                    }
                )
        if not rules and not actions:
            return None
        body = {
            "rules": rules,
            "actions": actions,
            "configuration": {
                config["key"]: config["value"] for config in self.code.all(RULES_CONFIG)
            },
            "domain": urlsplit(self.issuer).netloc,
            "base_url": self.issuer,
        }
        key = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return Setup(key, body)

    def post_login(self, user: User, login: Login) -> Claims:
        """Runs the Rules and post-login Actions; raises CodeRefused or SandboxBusy."""
        claims = Claims()
        setup = self.setup(POST_LOGIN)
        if setup is None:
            return claims
        claims.ran = True
        profile = user.as_auth0()
        run_input = {
            "user": _rules_user(profile),
            "context": self._context(user, login),
            "event": orjson.dumps(self._event(profile, login)).decode(),
            "trigger": HANDLERS[POST_LOGIN],
        }
        result = self._run(setup, run_input, login.request_id)
        self._write_aggregated(user.user_id, result.get("actions"), login.request_id)
        _raise_refusal(result["outcome"])
        claims.add(result["context"]["idToken"], result["context"]["accessToken"])
        claims.add(result["actions"]["idToken"], result["actions"]["accessToken"])
        return claims

    def pre_user_registration(self, profile: dict[str, Any], login: Login) -> dict[str, Any]:
        """Runs the pre-user-registration Actions on the user about to be created; the
        metadata they set, by bucket. Raises CodeRefused or SandboxBusy."""
        setup = self.setup(PRE_USER_REGISTRATION)
        if setup is None:
            return {}
        event = self._event(profile, login)
        run_input = {
            "user": profile,
            "context": {},
            "event": orjson.dumps(event).decode(),
            "trigger": HANDLERS[PRE_USER_REGISTRATION],
        }
        result = self._run(setup, run_input, login.request_id)
        _raise_refusal(result["outcome"])
        metadata: dict[str, Any] = result["actions"]["metadata"]
        return {bucket: patch for bucket, patch in metadata.items() if patch}

    def _run(self, setup: Setup, run_input: dict[str, Any], request_id: str) -> dict[str, Any]:
        carried_out = 0

        def execute(effects: list[dict[str, Any]]) -> list[dict[str, Any]]:
            nonlocal carried_out
            answers = []
            for effect in effects:
                carried_out += 1
                if carried_out > MAX_EFFECTS:
                    answers.append({"id": effect["id"], "ok": False, "error": TOO_MANY_EFFECTS})
                else:
                    answers.append(self._effect(effect, request_id))
            return answers

        try:
            done = self.pool.run(setup, run_input, self.seconds, execute)
        except SandboxFailure as failure:
            if failure.kind == "busy":
                raise SandboxBusy(failure.message) from None
            message = OUT_OF_TIME if failure.kind == "timeout" else failure.message
            raise CodeRefused(_attributed(message, failure.source), denied=False) from None
        for line in done["logs"]:
            # What the code printed with console.log: for whoever debugs their rules.
            log.debug("tenant code (request %s): %s", request_id, line)
        result: dict[str, Any] = done["result"]
        return result

    def _effect(self, effect: dict[str, Any], request_id: str) -> dict[str, Any]:
        payload = effect["payload"]
        source = effect["source"]
        try:
            if effect["kind"] == "metadata":
                actor = Actor(kind=source["kind"], id=source["id"], request_id=request_id)
                update = UserUpdate(buckets={payload["bucket"]: payload["patch"]})
                written = self.profiles.update_user(payload["user_id"], update, actor)
                value: Any = written.user.as_auth0()
            elif effect["kind"] == "http":
                value = self.egress.send(payload)
            else:
                return {"id": effect["id"], "ok": False, "error": "unknown effect"}
        except (DomainError, EgressRefused) as error:
            return {"id": effect["id"], "ok": False, "error": str(error)}
        return {"id": effect["id"], "ok": True, "value": value}

    def _write_aggregated(
        self, user_id: str, actions: dict[str, Any] | None, request_id: str
    ) -> None:
        """The Actions' metadata, one event per bucket they set."""
        if not actions:
            return
        buckets = {bucket: patch for bucket, patch in actions["metadata"].items() if patch}
        if not buckets:
            return
        actor = Actor(kind="action", id=",".join(actions["writers"]), request_id=request_id)
        try:
            self.profiles.update_user(user_id, UserUpdate(buckets=buckets), actor)
        except DomainError as error:
            raise CodeRefused(f"metadata not written: {error}", denied=False) from None

    def _context(self, user: User, login: Login) -> dict[str, Any]:
        return {
            "tenant": urlsplit(self.issuer).netloc,
            "clientID": login.client_id,
            "clientName": login.client_name,
            "clientMetadata": {},
            "connection": login.connection,
            "connectionID": login.connection,
            "connectionStrategy": "auth0",
            "connectionOptions": {},
            "connectionMetadata": {},
            "protocol": login.protocol,
            "stats": {"loginsCount": user.logins_count},
            "sso": {"with_auth0": False, "with_dbconn": False, "current_clients": []},
            "sessionID": secrets.token_hex(16),
            "primaryUser": user.user_id,
            "authentication": {"methods": [{"name": "pwd", "timestamp": _now_ms()}]},
            "authorization": {"roles": []},
            "request": {
                "userAgent": login.user_agent,
                "ip": login.ip,
                "hostname": login.hostname,
                "query": {},
                "body": {},
                "geoip": {},
            },
            "idToken": {},
            "accessToken": {"scope": list(login.scopes)},
        }

    def _event(self, profile: dict[str, Any], login: Login) -> dict[str, Any]:
        user = dict(profile)
        user["user_metadata"] = user.get(USER_METADATA) or {}
        user["app_metadata"] = user.get(APP_METADATA) or {}
        return {
            "user": user,
            "client": {"client_id": login.client_id, "name": login.client_name, "metadata": {}},
            "connection": {
                "id": login.connection,
                "name": login.connection,
                "strategy": "auth0",
                "metadata": {},
            },
            "request": {
                "ip": login.ip,
                "user_agent": login.user_agent,
                "hostname": login.hostname,
                "query": {},
                "body": {},
                "geoip": {},
            },
            "transaction": {
                "id": login.request_id,
                "protocol": login.protocol,
                "requested_scopes": list(login.scopes),
            },
            "stats": {"logins_count": profile.get("logins_count", 0)},
            "tenant": {"id": urlsplit(self.issuer).netloc},
            "authentication": {"methods": [{"name": "pwd", "timestamp": _now_iso()}]},
            "authorization": {"roles": []},
        }


def _rules_user(profile: dict[str, Any]) -> dict[str, Any]:
    """Auth0's rule `user`: `app_metadata` undefined while empty, its keys also on the root
    (never over a root attribute)."""
    user = dict(profile)
    app_metadata = user.pop(APP_METADATA, None)
    if app_metadata:
        user[APP_METADATA] = app_metadata
        for key, value in app_metadata.items():
            user.setdefault(key, value)
    user[USER_METADATA] = user.get(USER_METADATA) or {}
    return user


def _raise_refusal(outcome: dict[str, Any]) -> None:
    if outcome["kind"] == "ok":
        return
    denied = outcome["kind"] == "denied"
    message = outcome["message"] if denied else _attributed(outcome["message"], outcome["source"])
    raise CodeRefused(message, denied=denied)


def _attributed(message: str, source: Any) -> str:
    """The message, naming the rule or action it came from."""
    if isinstance(source, dict) and source.get("name"):
        return f'{source["kind"]} "{source["name"]}": {message}'
    return message


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
