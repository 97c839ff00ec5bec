"""The contract of the connection registry (configured connections beside those stored through
the API), on SQLite and PostgreSQL: stored connections by id and by name, names unique across
both kinds, sealed configuration values, a sealed value sent back keeping its secret, and
configured connections that cannot be changed.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.api import stores
from metaledger.api.connection_store import (
    ConfiguredConnection,
    ConnectionExists,
    ConnectionRegistry,
)
from metaledger.api.directory import Directory
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles

DSN = "postgresql://legacy:secret@db.example/legacy"


@pytest.fixture
def registry(profiles: UserProfiles) -> ConnectionRegistry:
    return ConnectionRegistry(Directory([DEFAULT_CONNECTION]), stores.tenant_code(profiles))


def custom(name: str = "legacy-db", dsn: str = DSN) -> dict[str, Any]:
    return {
        "name": name,
        "strategy": "auth0",
        "enabled_clients": ["web-app"],
        "options": {
            "enabledDatabaseCustomization": True,
            "customScripts": {"login": "function login(e, p, cb) { cb(null); }"},
            "configuration": {"DSN": dsn},
        },
    }


class ConnectionStoreContract:
    """What either backend must do. Subclasses set `backend`."""

    def test_a_stored_connection_reads_back_by_id_and_by_name(
        self, registry: ConnectionRegistry
    ) -> None:
        created = registry.create(custom())
        assert registry.stored(created["id"]) == created
        assert registry.stored_by_name("legacy-db") == created

    def test_configured_and_stored_connections_list_together_by_name(
        self, registry: ConnectionRegistry
    ) -> None:
        registry.create(custom("a-legacy-db"))
        names = [body["name"] for body in registry.all()]
        assert names == ["Username-Password-Authentication", "a-legacy-db"]

    def test_a_configuration_value_is_answered_sealed(self, registry: ConnectionRegistry) -> None:
        created = registry.create(custom())
        shown = registry.by_id(created["id"])
        assert shown is not None
        assert shown["options"]["configuration"]["DSN"].startswith("2.0$")
        assert DSN not in str(shown)

    def test_a_sealed_value_sent_back_keeps_its_secret(self, registry: ConnectionRegistry) -> None:
        created = registry.create(custom())
        shown = registry.by_id(created["id"])
        assert shown is not None
        registry.update(created["id"], {"options": shown["options"]})
        stored = registry.stored(created["id"])
        assert stored is not None
        assert stored["options"]["configuration"] == {"DSN": DSN}

    def test_a_new_value_replaces_the_secret(self, registry: ConnectionRegistry) -> None:
        created = registry.create(custom())
        registry.update(created["id"], {"options": custom(dsn="postgresql://other")["options"]})
        stored = registry.stored(created["id"])
        assert stored is not None
        assert stored["options"]["configuration"] == {"DSN": "postgresql://other"}

    def test_a_name_is_unique_among_stored_connections(self, registry: ConnectionRegistry) -> None:
        registry.create(custom())
        with pytest.raises(ConnectionExists):
            registry.create(custom())

    def test_a_configured_name_cannot_be_stored(self, registry: ConnectionRegistry) -> None:
        with pytest.raises(ConnectionExists):
            registry.create(custom(DEFAULT_CONNECTION))

    def test_a_configured_connection_cannot_be_changed_or_deleted(
        self, registry: ConnectionRegistry
    ) -> None:
        configured = registry.configured.by_name(DEFAULT_CONNECTION)
        assert configured is not None
        with pytest.raises(ConfiguredConnection):
            registry.update(configured.id, {"display_name": "x"})
        with pytest.raises(ConfiguredConnection):
            registry.delete(configured.id)

    def test_users_may_belong_to_stored_and_configured_connections(
        self, registry: ConnectionRegistry
    ) -> None:
        registry.create(custom())
        assert "legacy-db" in registry
        assert DEFAULT_CONNECTION in registry
        assert "nowhere" not in registry

    def test_a_deleted_connection_is_gone(self, registry: ConnectionRegistry) -> None:
        created = registry.create(custom())
        registry.delete(created["id"])
        assert registry.by_id(created["id"]) is None
        assert "legacy-db" not in registry

    def test_a_stored_connection_enables_the_clients_it_lists(
        self, registry: ConnectionRegistry
    ) -> None:
        registry.create(custom())
        assert registry.enables("legacy-db", "web-app")
        assert not registry.enables("legacy-db", "other-app")


class TestOnSQLite(ConnectionStoreContract):
    backend = "sqlite"


class TestOnPostgres(ConnectionStoreContract):
    backend = "postgres"
