"""Rules and Actions managed with the official Auth0 SDK, run by password logins through the
SDK's authentication client, on both stores: metadata writes as events with the rule's or the
action's actor, claims in the tokens and /userinfo, denials in Auth0's shape, and hostile code
that fails its own login while the server goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from auth0.authentication import Database, GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import Auth0, BadRequestError, ConflictError, NotFoundError

from metaledger.api.auth.applications import parse_applications
from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
WEB_APP = "web-app"
MANAGEMENT = "http://metaledger.test/api/v2/"
SCOPE = "openid profile email read:current_user"
COLOR = "https://example.com/favorite_color"

PERSIST_COLOR = """function (user, context, callback) {
  user.user_metadata = user.user_metadata || {};
  user.user_metadata.color = user.user_metadata.color || 'blue';
  context.idToken['https://example.com/favorite_color'] = user.user_metadata.color;
  auth0.users.updateUserMetadata(user.user_id, user.user_metadata)
    .then(function () { callback(null, user, context); })
    .catch(function (err) { callback(err); });
}"""
MARK_THEN_DENY = """function (user, context, callback) {
  auth0.users.updateAppMetadata(user.user_id, {denied_once: true}).then(function () {
    callback(new UnauthorizedError('Access denied: ' + configuration.REASON));
  });
}"""
ENDLESS = "function (user, context, callback) { while (true) {} }"
POST_LOGIN_ACTION = """exports.onExecutePostLogin = async (event, api) => {
  api.user.setUserMetadata('greeting', 'hello ' + event.user.email);
  api.user.setAppMetadata('tier', event.secrets.TIER);
  api.idToken.setCustomClaim('https://example.com/tier', event.secrets.TIER);
  api.accessToken.setCustomClaim('https://example.com/client', event.client.client_id);
};"""


def with_web_app(settings: Settings) -> Settings:
    """A public application that logs users in, and a short deadline for hostile code."""
    return settings.replace(
        applications=parse_applications(
            f'[{{"client_id": "{WEB_APP}", "name": "web", "grant_types": '
            '["http://auth0.com/oauth/grant-type/password-realm"]}]',
            settings.connections,
        ),
        # Hostile code is stopped after this long; a whole pipeline of honest code takes ms.
        sandbox_deadline_seconds=2.0,
        sandbox_workers=2,
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_web_app(settings)


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


@pytest.fixture
def user_id(sdk: Auth0) -> str:
    created = sdk.users.create(connection=CONNECTION, email="rules@example.com", password=PASSWORD)
    assert created.user_id is not None
    return str(created.user_id)


def log_in(server: RunningServer) -> dict[str, Any]:
    tokens: dict[str, Any] = GetToken(f"127.0.0.1:{server.port}", WEB_APP, protocol="http").login(
        username="rules@example.com",
        password=PASSWORD,
        realm=CONNECTION,
        scope=SCOPE,
        audience=MANAGEMENT,
    )
    return tokens


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def history(http: httpx.Client, user_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = http.get(f"/api/v2/users/{user_id}/history").json()
    return events


def test_the_sdk_creates_lists_updates_and_deletes_rules(sdk: Auth0) -> None:
    created = sdk.rules.create(name="persist color", script=PERSIST_COLOR, order=3)
    assert (created.name, created.order, created.enabled, created.stage) == (
        "persist color",
        3,
        True,
        "login_success",
    )
    assert created.id is not None
    assert [rule.id for rule in sdk.rules.list()] == [created.id]
    updated = sdk.rules.update(created.id, enabled=False, name="persist colour")
    assert (updated.name, updated.enabled) == ("persist colour", False)
    assert sdk.rules.get(created.id).script == PERSIST_COLOR
    sdk.rules.delete(created.id)
    with pytest.raises(NotFoundError):
        sdk.rules.get(created.id)


def test_a_rule_name_is_unique_and_follows_auth0s_pattern(sdk: Auth0) -> None:
    sdk.rules.create(name="one", script=PERSIST_COLOR)
    with pytest.raises(ConflictError):
        sdk.rules.create(name="one", script=PERSIST_COLOR)
    with pytest.raises(BadRequestError):
        sdk.rules.create(name="no/slashes", script=PERSIST_COLOR)


def test_rules_configs_show_their_keys_never_their_values(sdk: Auth0) -> None:
    sdk.rules_configs.set("API_KEY", value="s3cret")
    assert [config.key for config in sdk.rules_configs.list()] == ["API_KEY"]
    assert "s3cret" not in str([config.model_dump() for config in sdk.rules_configs.list()])
    sdk.rules_configs.delete("API_KEY")
    assert list(sdk.rules_configs.list()) == []


def test_a_rule_writes_metadata_as_its_own_event_and_adds_a_claim(
    sdk: Auth0, server: RunningServer, http: httpx.Client, user_id: str
) -> None:
    rule = sdk.rules.create(name="persist color", script=PERSIST_COLOR)
    tokens = log_in(server)
    assert claims_of(tokens["id_token"])[COLOR] == "blue"
    assert sdk.users.get(user_id).user_metadata == {"color": "blue"}
    patched = [e for e in history(http, user_id) if e["event"] == "UserMetadataPatched"]
    assert patched[0]["actor"]["kind"] == "rule"
    assert patched[0]["actor"]["id"] == rule.id
    userinfo = httpx.get(
        f"{server.base_url}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    assert userinfo[COLOR] == "blue"


def test_a_denying_rule_refuses_the_login_and_keeps_its_earlier_write(
    sdk: Auth0, server: RunningServer, user_id: str
) -> None:
    sdk.rules_configs.set("REASON", value="closed today")
    sdk.rules.create(name="deny", script=MARK_THEN_DENY)
    with pytest.raises(Auth0Error) as refused:
        log_in(server)
    assert refused.value.status_code == 403
    assert refused.value.error_code == "access_denied"
    assert refused.value.message == "Access denied: closed today"
    assert sdk.users.get(user_id).app_metadata == {"denied_once": True}


def test_a_post_login_action_writes_one_event_per_bucket_and_hides_its_secrets(
    sdk: Auth0, server: RunningServer, http: httpx.Client, user_id: str
) -> None:
    action = sdk.actions.create(
        name="tiering",
        supported_triggers=[{"id": "post-login", "version": "v3"}],
        code=POST_LOGIN_ACTION,
        secrets=[{"name": "TIER", "value": "gold"}],
    )
    assert action.id is not None
    assert [secret.name for secret in action.secrets or []] == ["TIER"]
    assert "gold" not in sdk.actions.get(action.id).model_dump_json()
    sdk.actions.deploy(action.id)
    sdk.actions.triggers.bindings.update_many(
        "post-login", bindings=[{"ref": {"type": "action_id", "value": action.id}}]
    )
    tokens = log_in(server)
    assert claims_of(tokens["id_token"])["https://example.com/tier"] == "gold"
    assert claims_of(tokens["access_token"])["https://example.com/client"] == WEB_APP
    user = sdk.users.get(user_id)
    assert user.user_metadata == {"greeting": "hello rules@example.com"}
    assert user.app_metadata == {"tier": "gold"}
    written = [
        (e["event"], e["actor"]["kind"], e["actor"]["id"])
        for e in history(http, user_id)
        if e["event"] in ("UserMetadataPatched", "AppMetadataPatched")
    ]
    assert sorted(written) == [
        ("AppMetadataPatched", "action", action.id),
        ("UserMetadataPatched", "action", action.id),
    ]


def test_an_endless_rule_fails_its_login_and_the_server_goes_on(
    sdk: Auth0, server: RunningServer, user_id: str
) -> None:
    endless = sdk.rules.create(name="endless", script=ENDLESS)
    with pytest.raises(Auth0Error) as refused:
        log_in(server)
    assert refused.value.error_code == "access_denied"
    assert "exceeded allowed execution time" in refused.value.message
    assert endless.id is not None
    sdk.rules.delete(endless.id)
    sdk.rules.create(name="persist color", script=PERSIST_COLOR)
    assert claims_of(log_in(server)["id_token"])[COLOR] == "blue"


def test_a_killed_worker_fails_no_later_login(
    sdk: Auth0, server: RunningServer, container: Container, user_id: str
) -> None:
    sdk.rules.create(name="persist color", script=PERSIST_COLOR)
    log_in(server)
    for pid in container.pipeline.pool.workers():
        os.kill(pid, signal.SIGKILL)
    # A run on a dead worker fails that login (the worker is replaced); the next ones pass.
    statuses = []
    for _ in range(4):
        try:
            statuses.append(200 if COLOR in claims_of(log_in(server)["id_token"]) else 0)
        except Auth0Error as refused:
            statuses.append(refused.status_code)
    assert set(statuses) <= {200, 403}
    assert statuses[-2:] == [200, 200]


PRE_REGISTRATION_ACTION = """exports.onExecutePreUserRegistration = async (event, api) => {
  if (event.user.email.endsWith('@blocked.example')) {
    api.access.deny('blocked_domain', 'Sign-ups from this domain are closed.');
    return;
  }
  api.user.setUserMetadata('signed_up_via', event.client.name);
  api.user.setAppMetadata('plan', 'trial');
};"""


def test_a_pre_user_registration_action_sets_metadata_and_denies_sign_ups(
    sdk: Auth0, server: RunningServer
) -> None:
    action = sdk.actions.create(
        name="gatekeeper",
        supported_triggers=[{"id": "pre-user-registration", "version": "v2"}],
        code=PRE_REGISTRATION_ACTION,
        deploy=True,
    )
    sdk.actions.triggers.bindings.update_many(
        "pre-user-registration", bindings=[{"ref": {"type": "action_name", "value": "gatekeeper"}}]
    )
    assert action.id is not None
    signup = Database(f"127.0.0.1:{server.port}", WEB_APP, protocol="http")
    signed_up = signup.signup(
        email="new@example.com",
        password=PASSWORD,
        connection=CONNECTION,
        user_metadata={"hobby": "kites"},
    )
    user = sdk.users.get(f"auth0|{signed_up['_id']}")
    assert user.user_metadata == {"hobby": "kites", "signed_up_via": "web"}
    assert user.app_metadata == {"plan": "trial"}
    with pytest.raises(Auth0Error) as refused:
        signup.signup(email="x@blocked.example", password=PASSWORD, connection=CONNECTION)
    assert refused.value.error_code == "extensibility_error"
    assert refused.value.message == "Sign-ups from this domain are closed."
    assert sdk.users.list_users_by_email(email="x@blocked.example") == []


NODE_SDK = Path(__file__).parent / "node_sdk"


@pytest.mark.parametrize("database_url", [None])
def test_the_node_sdk_manages_rules_and_their_configuration(
    server: RunningServer, token: str
) -> None:
    managed = subprocess.run(
        ["node", str(NODE_SDK / "manage_rules.mjs"), f"{server.base_url}/api/v2", token],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(managed.stdout) == {
        "created": {"name": "node rule", "order": 2, "enabled": True},
        "listed": True,
        "updated": False,
        "afterDelete": 404,
        "keys": ["NODE_KEY"],
        "keysAfter": 0,
    }


ENDLESS_FOR_ONE = """function (user, context, callback) {
  if (user.email === 'spinner@example.com') { while (true) {} }
  callback(null, user, context);
}"""


def test_other_logins_go_on_while_one_spins(
    sdk: Auth0, server: RunningServer, user_id: str
) -> None:
    sdk.users.create(connection=CONNECTION, email="spinner@example.com", password=PASSWORD)
    sdk.rules.create(name="spin for one", script=ENDLESS_FOR_ONE)
    refusals: list[Auth0Error] = []

    def spin() -> None:
        try:
            GetToken(f"127.0.0.1:{server.port}", WEB_APP, protocol="http").login(
                username="spinner@example.com", password=PASSWORD, realm=CONNECTION
            )
        except Auth0Error as refused:
            refusals.append(refused)

    spinning = threading.Thread(target=spin)
    spinning.start()
    try:
        assert "access_token" in log_in(server)
        # The other login was served while the spinning one still held its worker.
        assert spinning.is_alive()
    finally:
        spinning.join()
    assert [refused.error_code for refused in refusals] == ["access_denied"]
