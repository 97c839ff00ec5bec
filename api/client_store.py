"""Applications as data: the ones created through the Management API (kept in the tenant-code
store, so every process serving logins reads the same), beside the admin client and those
METALEDGER_APPLICATIONS configures, under one registry.

A stored application is kept as the Auth0 client body the API answers, secret included (Auth0
shows it to `read:client_keys`); `Client` is built from it on each read, so a change made by one
process holds in every other at its next request.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from metaledger.api.auth.clients import CLIENT_CREDENTIALS, Client, ClientRegistry, origins_of
from metaledger.api.code_store import CLIENT, TenantCode

# A public application (a SPA, a native app) authenticates with its client_id alone.
PUBLIC = "none"
TOKEN_ENDPOINT_AUTH_METHODS = frozenset({PUBLIC, "client_secret_post", "client_secret_basic"})
URL_LISTS = ("callbacks", "allowed_logout_urls", "web_origins", "allowed_origins")
SECRET = "client_secret"
# Auth0's grants for an application created without `grant_types`, by app_type.
DEFAULT_GRANTS: dict[str | None, list[str]] = {
    None: ["authorization_code", "implicit", "refresh_token", CLIENT_CREDENTIALS],
    "regular_web": ["authorization_code", "implicit", "refresh_token", CLIENT_CREDENTIALS],
    "spa": ["authorization_code", "implicit", "refresh_token"],
    "native": ["authorization_code", "implicit", "refresh_token"],
    "non_interactive": [CLIENT_CREDENTIALS],
}


class ConfiguredClient(Exception):
    """An application the configuration gives cannot be changed through the API."""


def new_client_id() -> str:
    # Auth0's client ids are 32 characters of letters and digits.
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(32))


def new_client_secret() -> str:
    return secrets.token_urlsafe(48)


_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def configured_body(client: Client) -> dict[str, Any]:
    """A configured application as the API answers it."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "name": client.name,
        "description": "",
        "app_type": client.app_type,
        "is_first_party": True,
        "global": False,
        "token_endpoint_auth_method": PUBLIC if client.is_public else "client_secret_post",
        "grant_types": sorted(client.grants),
        "callbacks": list(client.callbacks),
        "allowed_logout_urls": list(client.allowed_logout_urls),
        "web_origins": list(client.web_origins),
        "allowed_origins": list(client.allowed_origins),
        "client_metadata": dict(client.client_metadata),
    }
    if client.client_secret is not None:
        body[SECRET] = client.client_secret
    return body


def without_secret(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != SECRET}


class StoredClients(ClientRegistry):
    """The configured applications (read only) and the stored ones; `get` answers both."""

    def __init__(
        self, configured: Iterable[Client], code: TenantCode, connections: frozenset[str]
    ) -> None:
        super().__init__(list(configured))
        self.code = code
        # The configured database connections, which every stored application may use; a
        # connection created through the API enables the applications it lists.
        self.connections = connections

    def get(self, client_id: str | None) -> Client | None:
        configured = super().get(client_id)
        if configured is not None or not client_id:
            return configured
        document = self.stored(client_id)
        return self._client(document) if document is not None else None

    def cors_origins(self) -> frozenset[str]:
        stored = (self._client(document) for document in self.code.all(CLIENT))
        return super().cors_origins() | origins_of(stored)

    def is_configured(self, client_id: str) -> bool:
        return super().get(client_id) is not None

    def stored(self, client_id: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = self.code.get(CLIENT, client_id)
        return document

    def all(self) -> list[dict[str, Any]]:
        """Every application's body (secrets included): configured ones first, then the stored
        ones as they were created."""
        bodies = [configured_body(client) for client in self.configured()]
        return bodies + list(self.code.all(CLIENT))

    def by_id(self, client_id: str) -> dict[str, Any] | None:
        configured = super().get(client_id)
        if configured is not None:
            return configured_body(configured)
        return self.stored(client_id)

    def create(self, document: dict[str, Any]) -> dict[str, Any]:
        """Stores a new application: a generated client_id and, unless it is public, a secret."""
        document = {**document, "client_id": new_client_id()}
        if document.get("token_endpoint_auth_method") != PUBLIC:
            document[SECRET] = new_client_secret()
        # Names need not be unique (as on Auth0): the id stands in the store's name column.
        self.code.add(CLIENT, document["client_id"], document["client_id"], time.time(), document)
        return document

    def update(self, client_id: str, document: dict[str, Any]) -> None:
        """Replaces the stored application (keeping its place in the list)."""
        if self.is_configured(client_id):
            raise ConfiguredClient(client_id)
        # The store lists by position: an update keeps the application's place.
        position = self.code.position(CLIENT, client_id) or time.time()
        if document.get("token_endpoint_auth_method") == PUBLIC:
            document = without_secret(document)
        elif SECRET not in document:
            document = {**document, SECRET: new_client_secret()}
        self.code.put(CLIENT, client_id, client_id, position, document)

    def rotate_secret(self, client_id: str) -> dict[str, Any] | None:
        document = self.stored(client_id)
        if document is None:
            return None
        document = {**document, SECRET: new_client_secret()}
        self.update(client_id, document)
        return document

    def delete(self, client_id: str) -> None:
        if self.is_configured(client_id):
            raise ConfiguredClient(client_id)
        self.code.remove(CLIENT, client_id)

    def _client(self, document: dict[str, Any]) -> Client:
        public = document.get("token_endpoint_auth_method") == PUBLIC
        return Client(
            client_id=document["client_id"],
            client_secret=None if public else document.get(SECRET),
            name=document["name"],
            grants=frozenset(document.get("grant_types", [])),
            # Management scopes come only with the configuration's applications.
            scopes=(),
            connections=self.connections,
            app_type=document.get("app_type"),
            callbacks=tuple(document.get("callbacks", [])),
            allowed_logout_urls=tuple(document.get("allowed_logout_urls", [])),
            web_origins=tuple(document.get("web_origins", [])),
            allowed_origins=tuple(document.get("allowed_origins", [])),
            client_metadata=tuple(sorted(document.get("client_metadata", {}).items())),
        )
