"""Brute-force protection and suspicious IP throttling on the real stores, on a clock the tests
move; the counts are shared by every process that opens the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from metaledger.api import stores
from metaledger.api.auth.failure_store import (
    IP_FAILURES_TABLE,
    LOGIN_FAILURES_TABLE,
    BucketStatements,
    SqlTables,
)
from metaledger.api.auth.login_throttle import LoginKey, LoginThrottle, ip_key, login_key
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from tests.support.clock import Clock

KEY = login_key("Username-Password-Authentication", "Ada@Example.com", "192.0.2.1")
ADDRESS = ip_key("192.0.2.1")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def profiles(settings: Settings) -> Iterator[UserProfiles]:
    # Closed here: left to the collector, a PostgreSQL pool may be closed from its own thread.
    profiles = build_profiles(settings)
    yield profiles
    profiles.close()


def throttle_on(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    return LoginThrottle(3, 60, stores.login_failures(profiles), clock=clock)


def ip_throttle_on(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    """Suspicious IP throttling: 3 failures a minute from one address, then one every 20 s."""
    return LoginThrottle(3, 60, stores.login_failures(profiles, BucketStatements), clock=clock)


@pytest.fixture
def throttle(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    return throttle_on(profiles, clock)


ThrottleOf = Callable[[UserProfiles, Clock], LoginThrottle]
# Each rule, the key it counts, and how long the failure that reaches the limit blocks it.
RULES: dict[str, tuple[ThrottleOf, LoginKey, int]] = {
    "streaks": (throttle_on, KEY, 60),
    "addresses": (ip_throttle_on, ADDRESS, 20),
}


@pytest.fixture(params=list(RULES))
def ruled(
    request: pytest.FixtureRequest, profiles: UserProfiles, clock: Clock
) -> tuple[LoginThrottle, LoginKey, int]:
    """A throttle of each rule, its key, and how long it blocks."""
    throttle_of, key, blocked_for = RULES[request.param]
    return throttle_of(profiles, clock), key, blocked_for


def test_failures_below_the_limit_do_not_block(ruled: tuple[LoginThrottle, LoginKey, int]) -> None:
    throttle, key, _ = ruled
    throttle.failed(key)
    throttle.failed(key)
    assert throttle.block(key) is None


def test_the_failure_that_reaches_the_limit_blocks(
    ruled: tuple[LoginThrottle, LoginKey, int],
) -> None:
    throttle, key, blocked_for = ruled
    for _ in range(3):
        throttle.failed(key)
    block = throttle.block(key)
    assert block is not None
    assert block.headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(1_000_000 + blocked_for),
        "Retry-After": str(blocked_for),
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


@pytest.mark.parametrize("rule", list(RULES))
def test_failures_counted_by_several_processes_add_up(
    settings: Settings, profiles: UserProfiles, clock: Clock, rule: str
) -> None:
    throttle_of, key, _ = RULES[rule]
    # Held until the end: an application closes its store when it is collected, and the
    # throttle keeps only the store.
    other = build_profiles(settings)
    try:
        first, second = throttle_of(profiles, clock), throttle_of(other, clock)
        first.failed(key)
        second.failed(key)
        first.failed(key)
        assert first.block(key) is not None
        assert second.block(key) is not None
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

    assert keys_in(profiles, LOGIN_FAILURES_TABLE) == [live]


def keys_in(profiles: UserProfiles, table: str) -> list[bytes]:
    tables = profiles.recorder
    assert isinstance(tables, SqlTables)
    return [bytes(row["key"]) for row in tables.rows(f"SELECT key FROM {tables.table(table)}")]


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 60), (3, 0)])
def test_a_throttle_that_could_never_block_is_refused(
    profiles: UserProfiles, attempts: int, seconds: int
) -> None:
    with pytest.raises(ValueError, match="brute-force"):
        LoginThrottle(attempts, seconds, stores.login_failures(profiles))


# Suspicious IP throttling


@pytest.fixture
def ip_throttle(profiles: UserProfiles, clock: Clock) -> LoginThrottle:
    return ip_throttle_on(profiles, clock)


def fail(throttle: LoginThrottle, key: LoginKey, times: int) -> None:
    for _ in range(times):
        throttle.failed(key)


def test_a_blocked_address_earns_one_more_attempt_each_window_share(
    ip_throttle: LoginThrottle, clock: Clock
) -> None:
    fail(ip_throttle, ADDRESS, 3)
    clock.now += 19
    assert ip_throttle.block(ADDRESS) is not None
    clock.now += 1
    assert ip_throttle.block(ADDRESS) is None
    ip_throttle.failed(ADDRESS)
    block = ip_throttle.block(ADDRESS)
    assert block is not None
    assert block.until == clock.now + 20


def test_an_address_failing_no_faster_than_its_allowance_is_never_blocked(
    ip_throttle: LoginThrottle, clock: Clock
) -> None:
    # An office behind one address: a typo every 20 s, all day, stays under 3 a minute. A streak
    # would never end, and would block.
    for _ in range(100):
        ip_throttle.failed(ADDRESS)
        assert ip_throttle.block(ADDRESS) is None
        clock.now += 20


def test_an_address_is_throttled_apart_from_others(ip_throttle: LoginThrottle) -> None:
    fail(ip_throttle, ADDRESS, 3)
    assert ip_throttle.block(ip_key("192.0.2.2")) is None


def test_a_full_window_without_failures_restores_the_whole_allowance(
    ip_throttle: LoginThrottle, clock: Clock
) -> None:
    fail(ip_throttle, ADDRESS, 3)
    clock.now += 60
    fail(ip_throttle, ADDRESS, 2)
    assert ip_throttle.block(ADDRESS) is None


def test_drained_address_counts_are_swept_and_others_kept(
    profiles: UserProfiles, ip_throttle: LoginThrottle, clock: Clock
) -> None:
    drained, owing, live = (ip_key(f"192.0.2.{n}") for n in range(3))
    fail(ip_throttle, drained, 2)  # paid off at t=40
    clock.now += 50
    fail(ip_throttle, owing, 3)  # paid off at t=110
    clock.now += 50

    ip_throttle.failed(live)  # at t=100, a minute since the last sweep: this one sweeps

    assert sorted(keys_in(profiles, IP_FAILURES_TABLE)) == sorted([owing, live])


def test_sweeping_streaks_leaves_address_counts_alone(
    profiles: UserProfiles, throttle: LoginThrottle, clock: Clock
) -> None:
    # The address counts over a day; the streak throttle sweeps what is a minute old.
    daily = LoginThrottle(3, 86400, stores.login_failures(profiles, BucketStatements), clock=clock)
    fail(daily, ADDRESS, 2)
    clock.now += 120
    throttle.failed(KEY)  # sweeps the streaks
    daily.failed(ADDRESS)
    assert daily.block(ADDRESS) is not None
