"""Brute-force protection, on a clock the tests move."""

from __future__ import annotations

import pytest

from api.security.login_throttle import LoginThrottle, login_key

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
def throttle(clock: Clock) -> LoginThrottle:
    return LoginThrottle(max_failures=3, block_seconds=60, clock=clock)


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
    assert throttle.block(login_key(KEY[0], KEY[1], "192.0.2.2")) is None


def test_a_block_ends_after_block_seconds(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(3):
        throttle.failed(KEY)
    clock.now += 59
    block = throttle.block(KEY)
    assert block is not None
    assert block.retry_after == 1
    clock.now += 1
    assert throttle.block(KEY) is None


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


def test_the_oldest_streaks_go_first_when_full(clock: Clock) -> None:
    throttle = LoginThrottle(max_failures=1, block_seconds=60, capacity=2, clock=clock)
    keys = [login_key("c", f"user{n}@example.com", "192.0.2.1") for n in range(3)]
    for key in keys:
        throttle.failed(key)
    assert throttle.block(keys[0]) is None
    assert throttle.block(keys[1]) is not None
    assert throttle.block(keys[2]) is not None


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 60), (3, 0)])
def test_a_throttle_that_could_never_block_is_refused(attempts: int, seconds: int) -> None:
    with pytest.raises(ValueError, match="brute-force"):
        LoginThrottle(attempts, seconds)
