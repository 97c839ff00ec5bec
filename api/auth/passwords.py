"""Password hashing with argon2id; hashes imported from other systems are verified too."""

from __future__ import annotations

import secrets
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from metaledger.domain import password_hashes


class Passwords:
    def __init__(self, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )

    @cached_property
    def dummy_hash(self) -> str:
        """Stands in for a missing hash at login, with the same parameters. Made on first use:
        processes that never check a login (projector, relay, history) never pay for it."""
        return self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        imported = password_hashes.verify(password_hash, password)
        if imported is not None:
            return imported
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_login(self, password_hash: str | None, password: str) -> bool:
        """Like `verify`, but a user without a hash (unknown, or no password set) costs as
        much as one with a wrong password: one verification, against the dummy hash."""
        if password_hash is None:
            self.verify(self.dummy_hash, password)
            return False
        return self.verify(password_hash, password)
