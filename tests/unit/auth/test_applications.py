"""Applications from configuration."""

from __future__ import annotations

import pytest

from metaledger.api.auth.applications import ApplicationConfigError, parse_applications
from metaledger.api.auth.clients import CLIENT_CREDENTIALS, PASSWORD_REALM, ClientRegistry

CONNECTIONS = frozenset({"Username-Password-Authentication", "Partners"})


def test_an_application_without_a_secret_is_public() -> None:
    [app] = parse_applications(
        '[{"client_id": "spa", "grant_types": ["http://auth0.com/oauth/grant-type/password-realm"]}]',
        CONNECTIONS,
    )
    assert app.is_public
    assert app.grants == {PASSWORD_REALM}
    assert app.name == "spa"


def test_connections_default_to_every_configured_connection() -> None:
    [app] = parse_applications('[{"client_id": "spa"}]', CONNECTIONS)
    assert app.connections == CONNECTIONS
    assert app.grants == frozenset()


def test_a_confidential_application_may_use_client_credentials_with_its_scopes() -> None:
    [app] = parse_applications(
        '[{"client_id": "svc", "client_secret": "0123456789abcdef0123", '
        '"grant_types": ["client_credentials"], '
        '"scopes": ["update:users_app_metadata", "read:users"], "connections": []}]',
        CONNECTIONS,
    )
    assert not app.is_public
    assert app.grants == {CLIENT_CREDENTIALS}
    assert app.scopes == ("read:users", "update:users_app_metadata")
    assert app.connections == frozenset()


def test_a_browser_application_keeps_its_urls_and_metadata() -> None:
    [app] = parse_applications(
        '[{"client_id": "spa", "app_type": "spa", "grant_types": ["authorization_code", '
        '"refresh_token"], "callbacks": ["http://localhost:3000/callback"], '
        '"allowed_logout_urls": ["http://localhost:3000/"], '
        '"web_origins": ["http://localhost:3000"], "allowed_origins": ["http://localhost:3000"], '
        '"client_metadata": {"team": "growth"}}]',
        CONNECTIONS,
    )
    assert app.app_type == "spa"
    assert app.grants == {"authorization_code", "refresh_token"}
    assert app.callbacks == ("http://localhost:3000/callback",)
    assert app.allowed_logout_urls == ("http://localhost:3000/",)
    assert app.web_origins == app.allowed_origins == ("http://localhost:3000",)
    assert app.client_metadata == (("team", "growth"),)


def test_no_configuration_means_no_applications() -> None:
    assert parse_applications(None, CONNECTIONS) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[", "not JSON"),
        ('{"client_id": "spa"}', "JSON list"),
        ('["spa"]', "JSON object"),
        ('[{"name": "spa"}]', "needs a client_id"),
        ('[{"client_id": "spa", "secret": "x"}]', "unknown fields secret"),
        ('[{"client_id": "spa", "client_secret": "short"}]', "at least 16"),
        ('[{"client_id": "spa", "grant_types": ["magic"]}]', "unknown grant_types: magic"),
        ('[{"client_id": "spa", "grant_types": "password"}]', "list of strings"),
        ('[{"client_id": "spa", "grant_types": ["client_credentials"]}]', "needs a client_secret"),
        ('[{"client_id": "spa", "scopes": ["delete:everything"]}]', "unknown scopes"),
        ('[{"client_id": "spa", "connections": ["Nope"]}]', "unknown connections: Nope"),
        ('[{"client_id": "spa", "name": 3}]', "name must be a string"),
        ('[{"client_id": "spa", "app_type": "desktop"}]', "app_type must be one of"),
        ('[{"client_id": "spa", "callbacks": "http://a"}]', "callbacks must be a list"),
        ('[{"client_id": "spa", "client_metadata": {"tier": 3}}]', "string values"),
    ],
)
def test_unusable_application_configuration_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ApplicationConfigError, match=problem):
        parse_applications(text, CONNECTIONS)


def test_two_applications_with_one_client_id_are_refused() -> None:
    apps = parse_applications('[{"client_id": "spa"}, {"client_id": "spa"}]', CONNECTIONS)
    with pytest.raises(ValueError, match="two applications"):
        ClientRegistry(list(apps))
