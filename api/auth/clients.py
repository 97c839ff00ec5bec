"""Registered applications (OAuth clients) and their credentials."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ADMIN_CLIENT_FILE = "admin-client.json"

CLIENT_CREDENTIALS = "client_credentials"
PASSWORD = "password"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
AUTHORIZATION_CODE = "authorization_code"
IMPLICIT = "implicit"
REFRESH_TOKEN = "refresh_token"
GRANT_TYPES = frozenset(
    {CLIENT_CREDENTIALS, PASSWORD, PASSWORD_REALM, AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN}
)
# Auth0's application types; they describe the application, the grants decide what it may do.
APP_TYPES = frozenset({"native", "spa", "regular_web", "non_interactive"})

MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "update:users_app_metadata",
    "delete:users",
    "read:rules",
    "create:rules",
    "update:rules",
    "delete:rules",
    "read:rules_configs",
    "update:rules_configs",
    "delete:rules_configs",
    "read:actions",
    "create:actions",
    "update:actions",
    "delete:actions",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:logs",
    "read:logs_users",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
)


@dataclass(frozen=True)
class Client:
    """An application. Without a secret it is public (a SPA or native app): it may sign users
    up and log them in, but never use client credentials."""

    client_id: str
    client_secret: str | None
    name: str
    grants: frozenset[str]
    scopes: tuple[str, ...]
    connections: frozenset[str] = frozenset()
    # Also every connection created through the API (the admin client), not only those listed.
    all_connections: bool = False
    app_type: str | None = None
    # Where /authorize may send the browser back to, and /v2/logout's `returnTo`.
    callbacks: tuple[str, ...] = ()
    allowed_logout_urls: tuple[str, ...] = ()
    # Origins allowed to receive web_message responses and silent authentication.
    web_origins: tuple[str, ...] = ()
    # Origins allowed to call the Authentication API with CORS (Lock, auth0-js).
    allowed_origins: tuple[str, ...] = ()
    client_metadata: tuple[tuple[str, str], ...] = ()

    @property
    def is_public(self) -> bool:
        return self.client_secret is None

    def secret_matches(self, offered: str | None) -> bool:
        if self.client_secret is None or offered is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), offered.encode())


class ClientRegistry:
    def __init__(self, clients: list[Client]) -> None:
        self._clients: dict[str, Client] = {}
        for client in clients:
            if client.client_id in self._clients:
                raise ValueError(f"two applications have the client_id {client.client_id!r}")
            self._clients[client.client_id] = client

    def get(self, client_id: str | None) -> Client | None:
        return self._clients.get(client_id) if client_id else None

    def configured(self) -> list[Client]:
        """The applications given at start-up, in the order given."""
        return list(self._clients.values())

    def cors_origins(self) -> frozenset[str]:
        """Every application's allowed and web origins: where browsers may call from."""
        return origins_of(self._clients.values())


def origins_of(clients: Iterable[Client]) -> frozenset[str]:
    return frozenset(
        origin for client in clients for origin in (*client.allowed_origins, *client.web_origins)
    )


def admin_client(
    data_dir: Path, client_id: str | None, client_secret: str | None, connections: frozenset[str]
) -> Client:
    """The bootstrap client: every management scope, every grant and every connection, so that
    a fresh install can be exercised end to end (signup and password logins included).

    Without configured credentials they are generated once, printed, and kept in the data dir.
    """
    if not (client_id and client_secret):
        client_id, client_secret = _stored_or_generated_credentials(data_dir)
    return Client(
        client_id=client_id,
        client_secret=client_secret,
        name="metaledger admin",
        grants=GRANT_TYPES,
        scopes=MANAGEMENT_SCOPES,
        connections=connections,
        all_connections=True,
    )


def admin_client_source(data_dir: Path, client_id: str | None, client_secret: str | None) -> str:
    """Where the active admin client comes from, for the start-up message: configured
    credentials take over from the ones kept in the data dir, which a user may still hold."""
    path = data_dir / ADMIN_CLIENT_FILE
    if client_id and client_secret:
        ignored = f"; the credentials in {path} are not used" if path.exists() else ""
        return (
            f"admin client {client_id} from METALEDGER_ADMIN_CLIENT_ID and "
            f"METALEDGER_ADMIN_CLIENT_SECRET{ignored}"
        )
    stored = json.loads(path.read_text())["client_id"] if path.exists() else "(not made yet)"
    return f"admin client {stored} from {path}"


def _stored_or_generated_credentials(data_dir: Path) -> tuple[str, str]:
    path = data_dir / ADMIN_CLIENT_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        return str(stored["client_id"]), str(stored["client_secret"])
    client_id = secrets.token_urlsafe(24)
    client_secret = secrets.token_urlsafe(48)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"client_id": client_id, "client_secret": client_secret}, file)
    print(
        "metaledger: generated the admin client (kept in "
        f"{path}):\n  client_id:     {client_id}\n  client_secret: {client_secret}",
        file=sys.stderr,
    )
    return client_id, client_secret
