"""Password hashing with argon2id."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, time_cost: int, memory_cost_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
        )
        # Stands in for a missing hash at login. Made now, with the same parameters, so that
        # not even the first login of an unknown user costs more than a known user's.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_login(self, password_hash: str | None, password: str) -> bool:
        """Like `verify`, but a user without a hash (unknown, or no password set) costs as
        much as one with a wrong password: one verification, against the dummy hash."""
        if password_hash is None:
            self.verify(self._dummy_hash, password)
            return False
        return self.verify(password_hash, password)
