"""Brute-force protection: consecutive failed logins for one user from one IP block that pair.

As in Auth0, the block is per (user, IP), so an attacker elsewhere cannot lock the owner out,
and a successful login clears the count. Counts are kept in this process's memory, bounded,
oldest first out; a failure streak is forgotten once `block_seconds` pass without another one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

LoginKey = tuple[str, str, str]  # (connection, lowercased identifier, IP)


def login_key(connection: str, identifier: str, ip: str) -> LoginKey:
    return (connection, identifier.strip().lower(), ip)


@dataclass
class _Streak:
    failures: int
    last_failure: float
    blocked_until: float | None = None


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
        *,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_failures < 1 or block_seconds < 1:
            raise ValueError("brute-force protection needs at least 1 attempt and 1 second")
        self.max_failures = max_failures
        self.block_seconds = block_seconds
        self._capacity = capacity
        self._clock = clock
        self._streaks: OrderedDict[LoginKey, _Streak] = OrderedDict()
        self._lock = threading.Lock()

    def block(self, key: LoginKey) -> Block | None:
        """The block on `key`, if one is in force now."""
        now = self._clock()
        with self._lock:
            streak = self._current(key, now)
            if streak is None or streak.blocked_until is None:
                return None
            return Block(self.max_failures, streak.blocked_until, now)

    def failed(self, key: LoginKey) -> None:
        now = self._clock()
        with self._lock:
            streak = self._current(key, now) or _Streak(0, now)
            streak.failures += 1
            streak.last_failure = now
            if streak.failures >= self.max_failures:
                streak.blocked_until = now + self.block_seconds
            self._streaks[key] = streak
            self._streaks.move_to_end(key)
            while len(self._streaks) > self._capacity:
                self._streaks.popitem(last=False)

    def succeeded(self, key: LoginKey) -> None:
        with self._lock:
            self._streaks.pop(key, None)

    def _current(self, key: LoginKey, now: float) -> _Streak | None:
        """The live streak of `key`; an ended block or a stale streak is dropped."""
        streak = self._streaks.get(key)
        if streak is None:
            return None
        ended = streak.blocked_until is not None and streak.blocked_until <= now
        stale = streak.blocked_until is None and now - streak.last_failure >= self.block_seconds
        if ended or stale:
            del self._streaks[key]
            return None
        return streak
