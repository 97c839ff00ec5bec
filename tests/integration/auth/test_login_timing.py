"""A failed password login costs as much for an unknown user as for a known user with a wrong
password: one argon2id verification with the service's own parameters, over HTTP against the
real server and store.

The cost is the CPU time the process (test client and server, which runs in a thread of it)
spends on each attempt. The machine is shared, so wall time swings with other processes' load;
the work done does not, and it is what an attacker's clock measures on a quiet server."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from metaledger.api.settings import Settings
from tests.integration.auth.conftest import login_body, sign_up

ATTEMPTS = 30
KNOWN = "lin@example.com"
WRONG_PASSWORD = "Wrong-horse-9"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The documented argon2id parameters, not the suite's cheap ones, and limits that let every
    # attempt reach the password check.
    return settings.replace(
        argon2_time_cost=Settings.model_fields["argon2_time_cost"].default,
        argon2_memory_cost_kib=Settings.model_fields["argon2_memory_cost_kib"].default,
        argon2_parallelism=Settings.model_fields["argon2_parallelism"].default,
        brute_force_max_attempts=10 * ATTEMPTS,
        ip_throttle_max_attempts=10 * ATTEMPTS,
    )


def failed_login_cost(client: httpx.Client, username: str) -> float:
    """CPU seconds of one refused login."""
    started = time.process_time()
    response = client.post("/oauth/token", json=login_body(username, password=WRONG_PASSWORD))
    cost = time.process_time() - started
    assert response.status_code == 403, response.text
    return cost


def test_an_unknown_user_costs_as_much_as_a_known_user_with_a_wrong_password(
    anonymous: httpx.Client,
) -> None:
    sign_up(anonymous, KNOWN)
    failed_login_cost(anonymous, KNOWN)  # the first of each warms connections and caches
    failed_login_cost(anonymous, "ghost@example.com")
    known: list[float] = []
    unknown: list[float] = []
    for n in range(ATTEMPTS):  # interleaved, so whatever else the process does weighs on both
        known.append(failed_login_cost(anonymous, KNOWN))
        unknown.append(failed_login_cost(anonymous, f"ghost{n}@example.com"))

    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    assert abs(unknown_median - known_median) <= 0.10 * known_median, (
        f"median CPU time of a known user {known_median * 1000:.1f} ms, "
        f"of an unknown user {unknown_median * 1000:.1f} ms"
    )
