"""Registered applications (OAuth clients) and their credentials."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

ADMIN_CLIENT_FILE = "admin-client.json"

MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "update:users_app_metadata",
    "delete:users",
)


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str | None
    name: str
    grants: frozenset[str]
    scopes: tuple[str, ...]

    def secret_matches(self, offered: str | None) -> bool:
        if self.client_secret is None or offered is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), offered.encode())


class ClientRegistry:
    def __init__(self, clients: list[Client]) -> None:
        self._clients = {client.client_id: client for client in clients}

    def get(self, client_id: str | None) -> Client | None:
        return self._clients.get(client_id) if client_id else None


def admin_client(data_dir: Path, client_id: str | None, client_secret: str | None) -> Client:
    """The bootstrap machine-to-machine client, allowed every management scope.

    Without configured credentials they are generated once, printed, and kept in the data dir.
    """
    if not (client_id and client_secret):
        client_id, client_secret = _stored_or_generated_credentials(data_dir)
    return Client(
        client_id=client_id,
        client_secret=client_secret,
        name="metaledger admin",
        grants=frozenset({"client_credentials"}),
        scopes=MANAGEMENT_SCOPES,
    )


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
