"""The Authentication API through the official SDK's authentication classes, and self-service
on the Management API through its management client holding the user's own token."""

from __future__ import annotations

from typing import Any

import pytest
from auth0.authentication import Database, GetToken, Users
from auth0.authentication.exceptions import Auth0Error, RateLimitError
from auth0.management import Auth0, ForbiddenError, UnauthorizedError

from metaledger.api.auth.applications import parse_applications
from metaledger.api.auth.claims import parse_claims
from metaledger.api.settings import Settings
from tests.integration.auth.forgeries import AUDIENCES, FORGERIES
from tests.support.server import RunningServer

CONNECTION = "Username-Password-Authentication"
WEB_APP = "web-app"
PASSWORD = "Kites-and-5-sails"
MANAGEMENT = "http://metaledger.test/api/v2/"
SELF_SERVICE = "openid profile email read:current_user update:current_user_metadata"
HOBBY = "https://metaledger.test/claims/hobby"
PLAN = "https://metaledger.test/claims/plan"
MAX_ATTEMPTS = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A public application and claims, configured as an operator would (JSON text)."""
    return settings.replace(
        applications=parse_applications(
            f'[{{"client_id": "{WEB_APP}", "name": "web", "grant_types": '
            '["password", "http://auth0.com/oauth/grant-type/password-realm"]}]',
            settings.connections,
        ),
        claims=parse_claims(f'{{"{HOBBY}": "user_metadata.hobby", "{PLAN}": "app_metadata.plan"}}'),
        brute_force_max_attempts=MAX_ATTEMPTS,
    )


@pytest.fixture
def domain(server: RunningServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def database(domain: str) -> Database:
    return Database(domain, WEB_APP, protocol="http")


def log_in(domain: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    tokens: dict[str, Any] = GetToken(domain, WEB_APP, protocol="http").login(
        username=email, password=password, realm=CONNECTION, scope=SELF_SERVICE, audience=MANAGEMENT
    )
    return tokens


def management(server: RunningServer, access_token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=access_token, max_retries=0)


def user_id_of(signed_up: dict[str, Any]) -> str:
    return f"auth0|{signed_up['_id']}"


def test_signup_login_userinfo_and_self_service_through_the_sdk(
    server: RunningServer, domain: str, database: Database, token: str
) -> None:
    me = user_id_of(
        database.signup(
            email="kai@example.com",
            password=PASSWORD,
            connection=CONNECTION,
            given_name="Kai",
            user_metadata={"hobby": "kites"},
        )
    )
    other = user_id_of(
        database.signup(email="noor@example.com", password=PASSWORD, connection=CONNECTION)
    )
    management(server, token).users.update(me, app_metadata={"plan": "free"})

    tokens = log_in(domain, "kai@example.com")
    assert "id_token" in tokens

    info = Users(domain, protocol="http").userinfo(tokens["access_token"])
    assert info["sub"] == me
    assert info["given_name"] == "Kai"
    assert info[HOBBY] == "kites"
    assert info[PLAN] == "free"

    mine = management(server, tokens["access_token"])
    assert mine.users.get(me).logins_count == 1
    updated = mine.users.update(me, user_metadata={"hobby": "sailing"})
    assert updated.user_metadata == {"hobby": "sailing"}
    with pytest.raises(ForbiddenError) as app_metadata_refused:
        mine.users.update(me, app_metadata={"plan": "enterprise"})
    assert "app_metadata" in str(app_metadata_refused.value.body)
    with pytest.raises(ForbiddenError) as other_refused:
        mine.users.update(other, user_metadata={"hobby": "mine now"})
    assert "does not match subject" in str(other_refused.value.body)

    admin_view = management(server, token).users.get(me)
    assert admin_view.app_metadata == {"plan": "free"}
    assert admin_view.user_metadata == {"hobby": "sailing"}


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({f"key{n}": "value" for n in range(11)}, "user_metadata can have at most 10 properties"),
        ({"age": 42}, "invalid user_metadata.age type (only strings are allowed)"),
        ({"bio": "x" * 501}, "user_metadata.bio can have at most 500 characters"),
    ],
)
def test_sdk_signup_beyond_the_metadata_limits_is_refused(
    database: Database, metadata: dict[str, Any], message: str
) -> None:
    with pytest.raises(Auth0Error) as refused:
        database.signup(
            email="limits@example.com",
            password=PASSWORD,
            connection=CONNECTION,
            user_metadata=metadata,
        )
    assert (refused.value.status_code, refused.value.error_code) == (400, "invalid_signup")
    assert refused.value.message == message


def test_sdk_signup_with_a_weak_password_is_refused(database: Database) -> None:
    with pytest.raises(Auth0Error) as refused:
        database.signup(email="weak@example.com", password="password", connection=CONNECTION)
    assert (refused.value.status_code, refused.value.error_code) == (400, "invalid_password")
    assert refused.value.message == "Password is too weak"


def test_sdk_signup_twice_is_invalid_signup(database: Database) -> None:
    database.signup(email="twice@example.com", password=PASSWORD, connection=CONNECTION)
    with pytest.raises(Auth0Error) as refused:
        database.signup(email="twice@example.com", password=PASSWORD, connection=CONNECTION)
    assert (refused.value.status_code, refused.value.error_code) == (400, "invalid_signup")


def test_sdk_login_locks_out_after_repeated_failures(domain: str, database: Database) -> None:
    database.signup(email="lock@example.com", password=PASSWORD, connection=CONNECTION)
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(Auth0Error) as wrong:
            log_in(domain, "lock@example.com", "Wrong-pass-42")
        assert (wrong.value.status_code, wrong.value.error_code) == (403, "invalid_grant")
    with pytest.raises(RateLimitError) as locked:
        log_in(domain, "lock@example.com")
    assert locked.value.error_code == "too_many_attempts"
    assert locked.value.reset_at > 0


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_sdk_calls_with_a_bad_token_are_unauthorized(
    server: RunningServer, domain: str, database: Database, forgery: str
) -> None:
    me = user_id_of(
        database.signup(email="forged@example.com", password=PASSWORD, connection=CONNECTION)
    )
    key = server.container.signing_key
    with pytest.raises(UnauthorizedError):
        management(server, FORGERIES[forgery](key, AUDIENCES["management"], me)).users.get(me)
    with pytest.raises(Auth0Error) as refused:
        Users(domain, protocol="http").userinfo(FORGERIES[forgery](key, AUDIENCES["userinfo"], me))
    assert refused.value.status_code == 401
