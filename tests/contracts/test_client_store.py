"""The contract of the application registry (the configured applications beside those stored
through the API), on SQLite and PostgreSQL: a stored application is found by client_id from
another process's registry at once, gets the configured connections, keeps or loses its secret
with its authentication method, keeps its place in the list, and configured ones stay read only.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from metaledger.api import stores
from metaledger.api.auth.clients import PASSWORD_REALM, Client
from metaledger.api.bootstrap import build_profiles
from metaledger.api.client_store import ConfiguredClient, StoredClients
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles

CONFIGURED = Client(
    client_id="configured-app",
    client_secret=None,
    name="configured",
    grants=frozenset({PASSWORD_REALM}),
    scopes=(),
)
CONNECTIONS = frozenset({DEFAULT_CONNECTION})


def registry_on(profiles: UserProfiles) -> StoredClients:
    return StoredClients([CONFIGURED], stores.tenant_code(profiles), CONNECTIONS)


@pytest.fixture
def registry(profiles: UserProfiles) -> StoredClients:
    return registry_on(profiles)


@pytest.fixture
def other_process(settings: Settings) -> Iterator[StoredClients]:
    """A registry over its own connections to the same store, as another worker holds."""
    profiles = build_profiles(settings)
    yield registry_on(profiles)
    profiles.close()


def application(name: str = "web", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": [PASSWORD_REALM],
        "callbacks": ["https://app.example/callback"],
        "allowed_logout_urls": [],
        "web_origins": ["https://app.example"],
        "allowed_origins": [],
        "client_metadata": {"tier": "gold"},
        **fields,
    }


class ClientStoreContract:
    """What either backend must do. Subclasses set `backend`."""

    def test_a_created_application_is_a_client_in_another_process_at_once(
        self, registry: StoredClients, other_process: StoredClients
    ) -> None:
        created = registry.create(application())
        client = other_process.get(created["client_id"])
        assert client is not None
        assert client.secret_matches(created["client_secret"])
        assert (client.name, client.grants) == ("web", frozenset({PASSWORD_REALM}))
        assert client.callbacks == ("https://app.example/callback",)
        assert client.client_metadata == (("tier", "gold"),)

    def test_a_stored_application_may_use_the_configured_connections(
        self, registry: StoredClients
    ) -> None:
        client = registry.get(registry.create(application())["client_id"])
        assert client is not None
        assert client.connections == CONNECTIONS
        assert client.scopes == ()

    def test_a_public_application_has_no_secret(self, registry: StoredClients) -> None:
        created = registry.create(application(token_endpoint_auth_method="none"))
        assert "client_secret" not in created
        client = registry.get(created["client_id"])
        assert client is not None
        assert client.is_public

    def test_a_change_is_seen_by_another_process_at_once(
        self, registry: StoredClients, other_process: StoredClients
    ) -> None:
        created = registry.create(application())
        registry.update(created["client_id"], {**created, "grant_types": []})
        client = other_process.get(created["client_id"])
        assert client is not None
        assert client.grants == frozenset()

    def test_a_rotated_secret_replaces_the_old_one(
        self, registry: StoredClients, other_process: StoredClients
    ) -> None:
        created = registry.create(application())
        rotated = registry.rotate_secret(created["client_id"])
        assert rotated is not None
        client = other_process.get(created["client_id"])
        assert client is not None
        assert client.secret_matches(rotated["client_secret"])
        assert not client.secret_matches(created["client_secret"])

    def test_an_application_turned_public_loses_its_secret_and_back_gets_a_new_one(
        self, registry: StoredClients
    ) -> None:
        created = registry.create(application())
        registry.update(created["client_id"], {**created, "token_endpoint_auth_method": "none"})
        public = registry.stored(created["client_id"])
        assert public is not None
        assert "client_secret" not in public
        registry.update(
            created["client_id"], {**public, "token_endpoint_auth_method": "client_secret_basic"}
        )
        confidential = registry.stored(created["client_id"])
        assert confidential is not None
        assert confidential["client_secret"] not in ("", created["client_secret"])

    def test_configured_applications_list_first_and_an_update_keeps_the_order(
        self, registry: StoredClients
    ) -> None:
        first = registry.create(application("first"))
        registry.create(application("second"))
        registry.update(first["client_id"], {**first, "name": "first, renamed"})
        names = [body["name"] for body in registry.all()]
        assert names == ["configured", "first, renamed", "second"]

    def test_names_need_not_be_unique(self, registry: StoredClients) -> None:
        registry.create(application("twin"))
        registry.create(application("twin"))
        assert [body["name"] for body in registry.all()].count("twin") == 2

    def test_a_configured_application_cannot_be_changed_or_deleted(
        self, registry: StoredClients
    ) -> None:
        with pytest.raises(ConfiguredClient):
            registry.update(CONFIGURED.client_id, application())
        with pytest.raises(ConfiguredClient):
            registry.delete(CONFIGURED.client_id)
        assert registry.get(CONFIGURED.client_id) == CONFIGURED

    def test_a_deleted_application_is_gone_in_every_process(
        self, registry: StoredClients, other_process: StoredClients
    ) -> None:
        created = registry.create(application())
        assert other_process.get(created["client_id"]) is not None
        registry.delete(created["client_id"])
        assert other_process.get(created["client_id"]) is None
        assert registry.by_id(created["client_id"]) is None

    def test_an_unknown_or_empty_client_id_is_no_client(self, registry: StoredClients) -> None:
        assert registry.get("nobody") is None
        assert registry.get(None) is None
        assert registry.get("") is None


class TestOnSQLite(ClientStoreContract):
    backend = "sqlite"


class TestOnPostgres(ClientStoreContract):
    backend = "postgres"
