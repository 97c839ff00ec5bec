"""Brute-force protection on the real stores, on a clock the tests move; the streaks are shared
by every process that opens the store."""

from __future__ import annotations

import pytest

from metaledger.api import stores
from metaledger.api.auth.failure_store import LOGIN_FAILURES_TABLE, SqlTables
from metaledger.api.auth.login_throttle import LoginThrottle, login_key
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles

KEY = login_key("Username-Password-Authentication", "Ada@Example.com", "192.0.2.1")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def profiles(settings: Settings) -> UserProfiles:
    return build_profiles(settings)


def throttle_on(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    return LoginThrottle(3, 60, stores.login_failures(profiles), clock=clock)


@pytest.fixture
def throttle(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    return throttle_on(profiles, clock)


def test_failures_below_the_limit_do_not_block(throttle: LoginThrottle) -> None:
    throttle.failed(KEY)
    throttle.failed(KEY)
    assert throttle.block(KEY) is None


def test_the_failure_that_reaches_the_limit_blocks(throttle: LoginThrottle) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    block = throttle.block(KEY)
    assert block is not None
    assert block.headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1000060",
        "Retry-After": "60",
    }


def test_the_identifier_is_compared_without_case_or_spaces(throttle: LoginThrottle) -> None:
    for _ in range(3):
        throttle.failed(
            login_key("Username-Password-Authentication", " ada@example.com", "192.0.2.1")
        )
    assert throttle.block(KEY) is not None


def test_a_block_is_per_ip(throttle: LoginThrottle) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    assert (
        throttle.block(
            login_key("Username-Password-Authentication", "ada@example.com", "192.0.2.2")
        )
        is None
    )


def test_a_block_ends_after_block_seconds(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    clock.now += 59
    block = throttle.block(KEY)
    assert block is not None
    assert block.retry_after == 1
    clock.now += 1
    assert throttle.block(KEY) is None


def test_a_failure_during_a_block_extends_it(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    clock.now += 30
    throttle.failed(KEY)
    block = throttle.block(KEY)
    assert block is not None
    assert block.until == clock.now + 60


def test_after_a_block_ends_the_count_starts_again(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    clock.now += 60
    throttle.failed(KEY)
    assert throttle.block(KEY) is None


def test_a_success_clears_the_failures(throttle: LoginThrottle) -> None:
    throttle.failed(KEY)
    throttle.failed(KEY)
    throttle.succeeded(KEY)
    throttle.failed(KEY)
    assert throttle.block(KEY) is None


def test_an_old_streak_is_forgotten(throttle: LoginThrottle, clock: Clock) -> None:
    throttle.failed(KEY)
    throttle.failed(KEY)
    clock.now += 60
    throttle.failed(KEY)
    assert throttle.block(KEY) is None


def test_failures_counted_by_several_processes_add_up(
    settings: Settings, profiles: UserProfiles, clock: Clock
) -> None:
    # Held until the end: an application closes its store when it is collected, and the
    # throttle keeps only the store.
    other = build_profiles(settings)
    try:
        first, second = throttle_on(profiles, clock), throttle_on(other, clock)
        first.failed(KEY)
        second.failed(KEY)
        first.failed(KEY)
        assert first.block(KEY) is not None
        assert second.block(KEY) is not None
    finally:
        other.close()


def test_streaks_that_are_over_are_swept_and_live_ones_kept(
    profiles: UserProfiles, throttle: LoginThrottle, clock: Clock
) -> None:
    ended, stale, live = (login_key("c", f"user{n}@example.com", "192.0.2.1") for n in range(3))
    for _ in range(3):
        throttle.failed(ended)  # blocked until t=60
    clock.now += 30
    throttle.failed(stale)  # forgotten from t=90
    clock.now += 70

    throttle.failed(live)  # at t=100, over a minute since the last sweep: this one sweeps

    tables = profiles.recorder
    assert isinstance(tables, SqlTables)
    rows = tables.rows(f"SELECT key FROM {tables.table(LOGIN_FAILURES_TABLE)}")
    assert [bytes(row["key"]) for row in rows] == [live]


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 60), (3, 0)])
def test_a_throttle_that_could_never_block_is_refused(
    profiles: UserProfiles, attempts: int, seconds: int
) -> None:
    with pytest.raises(ValueError, match="brute-force"):
        LoginThrottle(attempts, seconds, stores.login_failures(profiles))
