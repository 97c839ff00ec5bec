"""The configured database connections with stable Auth0-style ids (`con_` and 16 letters and
digits derived from the name), so every process and every restart names a connection alike."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALPHABET = string.ascii_letters + string.digits
STRATEGY = "auth0"


def connection_id(name: str) -> str:
    digest = int.from_bytes(hashlib.sha256(f"metaledger connection {name}".encode()).digest())
    characters = []
    for _ in range(16):
        digest, index = divmod(digest, len(ALPHABET))
        characters.append(ALPHABET[index])
    return "con_" + "".join(characters)


@dataclass(frozen=True)
class Connection:
    id: str
    name: str

    def as_auth0(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "strategy": STRATEGY,
            "display_name": self.name,
            "is_domain_connection": False,
            "realms": [self.name],
            "options": {},
        }


class Directory:
    """The connections by id and by name."""

    def __init__(self, names: Iterable[str]) -> None:
        self._by_id = {connection_id(name): Connection(connection_id(name), name) for name in names}

    def all(self) -> list[Connection]:
        return sorted(self._by_id.values(), key=lambda connection: connection.name)

    def by_id(self, id_: str) -> Connection | None:
        return self._by_id.get(id_)

    def by_name(self, name: str) -> Connection | None:
        return self._by_id.get(connection_id(name))
