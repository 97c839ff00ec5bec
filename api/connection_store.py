"""Database connections as data: the ones created through the Management API (kept in the
tenant-code store, so every process sees the same), beside those METALEDGER_CONNECTIONS
configures, under one registry.

A custom database (`options.enabledDatabaseCustomization`) carries its scripts and a
`configuration` of secrets. As on Auth0, a secret is never answered in clear: each value is
shown as an opaque sealed token, and a token sent back in a PATCH keeps the value it stands for.
"""

from __future__ import annotations

import secrets
from typing import Any

from metaledger.api.code_store import CONNECTION, NameTaken, TenantCode
from metaledger.api.directory import ALPHABET, Directory

SCRIPT_NAMES = ("login", "get_user", "create", "verify", "change_password", "delete")
SEALED_PREFIX = "2.0$"
CUSTOMIZED = "enabledDatabaseCustomization"
IMPORT_MODE = "import_mode"
SCRIPTS = "customScripts"
CONFIGURATION = "configuration"


class ConnectionExists(Exception):
    """Another connection, stored or configured, has this name."""


class ConfiguredConnection(Exception):
    """A connection METALEDGER_CONNECTIONS gives cannot be changed through the API."""


def new_connection_id() -> str:
    return "con_" + "".join(secrets.choice(ALPHABET) for _ in range(16))


def new_seal() -> str:
    return SEALED_PREFIX + secrets.token_hex(24)


def shown(document: dict[str, Any]) -> dict[str, Any]:
    """A stored connection as the API answers it: configuration values sealed."""
    body = {key: value for key, value in document.items() if key != "sealed"}
    options = dict(body["options"])
    if CONFIGURATION in options:
        options[CONFIGURATION] = dict(document["sealed"])
    body["options"] = options
    return body


def is_custom(document: dict[str, Any] | None) -> bool:
    return bool(document and document["options"].get(CUSTOMIZED) is True)


class ConnectionRegistry:
    """Configured connections (read only) and stored ones, by id and by name. It is also the
    set of connection names users may belong to (`name in registry`)."""

    def __init__(self, configured: Directory, code: TenantCode) -> None:
        self.configured = configured
        self.code = code

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return self.configured.by_name(name) is not None or self.stored_by_name(name) is not None

    def all(self) -> list[dict[str, Any]]:
        bodies = [connection.as_auth0() for connection in self.configured.all()]
        bodies += [shown(document) for document in self.code.all(CONNECTION)]
        return sorted(bodies, key=lambda body: str(body["name"]))

    def by_id(self, id_: str) -> dict[str, Any] | None:
        configured = self.configured.by_id(id_)
        if configured is not None:
            return configured.as_auth0()
        document = self.stored(id_)
        return shown(document) if document is not None else None

    def stored(self, id_: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = self.code.get(CONNECTION, id_)
        return document

    def stored_by_name(self, name: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = self.code.by_name(CONNECTION, name)
        return document

    def enables(self, name: str, client_id: str) -> bool:
        """Whether the stored connection `name` lists the application among its clients."""
        document = self.stored_by_name(name)
        return document is not None and client_id in document.get("enabled_clients", [])

    def create(self, document: dict[str, Any]) -> dict[str, Any]:
        """Stores a new connection (`id` and sealed secrets added); ConnectionExists when the
        name is taken."""
        if self.configured.by_name(document["name"]) is not None:
            raise ConnectionExists(document["name"])
        document = {**document, "id": new_connection_id(), "sealed": {}}
        _seal(document, {})
        try:
            self.code.add(CONNECTION, document["id"], document["name"], 0, document)
        except NameTaken:
            raise ConnectionExists(document["name"]) from None
        return document

    def update(self, id_: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """The stored connection with `changes` (whole top-level fields, `options` included,
        as on Auth0); None when there is none; ConfiguredConnection for a configured one."""
        if self.configured.by_id(id_) is not None:
            raise ConfiguredConnection(id_)
        document = self.stored(id_)
        if document is None:
            return None
        previous = document["options"].get(CONFIGURATION) or {}
        previous_seals = document["sealed"]
        document = {**document, **changes}
        _seal(document, {previous_seals[key]: value for key, value in previous.items()})
        self.code.put(CONNECTION, id_, document["name"], 0, document)
        return document

    def delete(self, id_: str) -> None:
        if self.configured.by_id(id_) is not None:
            raise ConfiguredConnection(id_)
        self.code.remove(CONNECTION, id_)


def _seal(document: dict[str, Any], kept: dict[str, str]) -> None:
    """Seals each configuration value; a value that is a token of the previous version (sent
    back as it was shown) keeps the clear value it stood for."""
    configuration = document["options"].get(CONFIGURATION)
    if configuration is None:
        document["sealed"] = {}
        return
    clear: dict[str, str] = {}
    seals: dict[str, str] = {}
    for key, value in configuration.items():
        if value is None:
            continue
        clear[key] = kept.get(value, value)
        seals[key] = new_seal()
    document["options"] = {**document["options"], CONFIGURATION: clear}
    document["sealed"] = seals
