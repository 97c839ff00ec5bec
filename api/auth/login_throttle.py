"""Brute-force protection: failed logins counted per key, and a key over its limit blocked.

Two keys, as Auth0 counts. `login_key`, one user from one IP: consecutive failures block that
pair, so an attacker elsewhere cannot lock the owner out, and a successful login clears the
count; a streak is forgotten once `block_seconds` pass without another failure. `ip_key`, one IP
whatever the username (suspicious IP throttling): failures from an address that sprays many
accounts block the address; a success does not clear it. The counts live in the store
(`LoginFailures`), which also holds the counting rule, so every HTTP process counts the same
failures.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from metaledger.api.auth.failure_store import Failure

LoginKey = bytes  # a digest of (connection, lowercased identifier, IP), or of the IP


def login_key(connection: str, identifier: str, ip: str) -> LoginKey:
    pair = "\0".join((connection, identifier.strip().lower(), ip))
    return hashlib.sha256(pair.encode()).digest()


def ip_key(ip: str) -> LoginKey:
    """The key of every login from `ip`, whatever the connection or identifier."""
    return hashlib.sha256(ip.encode()).digest()


class LoginFailures(Protocol):
    def record_login_failure(self, failure: Failure) -> None: ...
    def login_blocked_until(self, key: bytes, now: float) -> float | None: ...
    def clear_login_failures(self, key: bytes) -> None: ...
    def sweep_login_failures(self, now: float, block_seconds: int) -> None: ...


@dataclass(frozen=True)
class Block:
    """An active block: the limit, and when it ends (epoch seconds)."""

    limit: int
    until: float
    now: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.until - self.now))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(self.until)),
            "Retry-After": str(self.retry_after),
        }


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        block_seconds: int,
        failures: LoginFailures,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_failures < 1 or block_seconds < 1:
            raise ValueError("brute-force protection needs at least 1 attempt and 1 second")
        self.max_failures = max_failures
        self.block_seconds = block_seconds
        self._failures = failures
        self._clock = clock
        self._last_sweep = clock()

    def block(self, key: LoginKey) -> Block | None:
        """The block on `key`, if one is in force now."""
        now = self._clock()
        until = self._failures.login_blocked_until(key, now)
        return None if until is None else Block(self.max_failures, until, now)

    def failed(self, key: LoginKey) -> None:
        now = self._clock()
        self._failures.record_login_failure(
            Failure(key, now, self.max_failures, self.block_seconds)
        )
        if now - self._last_sweep >= self.block_seconds:  # streaks that are over go, in bulk
            self._last_sweep = now
            self._failures.sweep_login_failures(now, self.block_seconds)

    def succeeded(self, key: LoginKey) -> None:
        self._failures.clear_login_failures(key)
