"""Suspicious IP throttling on POST /oauth/token: failed logins from one address, whatever the
username, block the address (429 `too_many_attempts`); other addresses still get in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from metaledger.api.auth.login import SuspiciousIp, WrongCredentials
from metaledger.api.bootstrap import Container, build_http
from metaledger.api.http.routes.oauth import SUSPICIOUS_IP
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.integration.auth.conftest import (
    BACKEND_CLIENT_ID,
    BACKEND_CLIENT_SECRET,
    PASSWORD_TEXT,
    events_of,
    login_body,
    sign_up,
)

IP_MAX_ATTEMPTS = 5
IP_WINDOW_SECONDS = 3600
SPRAYER = "203.0.113.9"
NEIGHBOUR = "198.51.100.7"
KNOWN = "lin@example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        ip_throttle_max_attempts=IP_MAX_ATTEMPTS,
        ip_throttle_window_seconds=IP_WINDOW_SECONDS,
    )


@pytest.fixture
def user_id(anonymous: httpx.Client) -> str:
    return sign_up(anonymous, KNOWN)


def log_in(
    client: httpx.Client, username: str, password: str = PASSWORD_TEXT, ip: str | None = None
) -> httpx.Response:
    """A login through the confidential application, for the end user at `ip` if given (else
    the socket's address counts)."""
    body: dict[str, Any] = {
        **login_body(username, password),
        "client_id": BACKEND_CLIENT_ID,
        "client_secret": BACKEND_CLIENT_SECRET,
    }
    headers = {"auth0-forwarded-for": ip} if ip else {}
    return client.post("/oauth/token", json=body, headers=headers)


def spray(client: httpx.Client, times: int, ip: str | None = SPRAYER, start: int = 0) -> None:
    """Wrong passwords for `times` different usernames, each below the per-user limit."""
    for n in range(start, start + times):
        response = log_in(client, f"victim{n}@example.com", "Guess-1234", ip)
        assert response.status_code == 403, response.text


def assert_suspicious_ip(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"error": "too_many_attempts", "error_description": SUSPICIOUS_IP}
    assert response.headers["X-RateLimit-Limit"] == str(IP_MAX_ATTEMPTS)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    share = IP_WINDOW_SECONDS // IP_MAX_ATTEMPTS  # one more attempt is allowed after this
    assert 0 < int(response.headers["Retry-After"]) <= share


def test_a_spray_across_usernames_blocks_the_address_even_for_the_right_password(
    anonymous: httpx.Client, container: Container, user_id: str
) -> None:
    spray(anonymous, IP_MAX_ATTEMPTS)

    assert_suspicious_ip(log_in(anonymous, KNOWN, ip=SPRAYER))
    assert_suspicious_ip(log_in(anonymous, "victim99@example.com", "Guess-1234", SPRAYER))
    assert [type(event).__name__ for event in events_of(container, user_id)] == ["UserCreated"]


def test_another_address_still_logs_in_during_the_block(
    anonymous: httpx.Client, user_id: str
) -> None:
    spray(anonymous, IP_MAX_ATTEMPTS)

    assert log_in(anonymous, KNOWN, ip=NEIGHBOUR).status_code == 200


def test_a_public_application_is_throttled_by_its_socket_address(
    anonymous: httpx.Client, user_id: str
) -> None:
    for n in range(IP_MAX_ATTEMPTS):
        body = login_body(f"victim{n}@example.com", "Guess-1234")
        assert anonymous.post("/oauth/token", json=body).status_code == 403

    assert_suspicious_ip(anonymous.post("/oauth/token", json=login_body(KNOWN)))
    assert log_in(anonymous, KNOWN, ip=NEIGHBOUR).status_code == 200


def test_a_success_from_the_address_does_not_reset_its_count(
    anonymous: httpx.Client, user_id: str
) -> None:
    spray(anonymous, IP_MAX_ATTEMPTS - 1)
    assert log_in(anonymous, KNOWN, ip=SPRAYER).status_code == 200

    spray(anonymous, 1, start=IP_MAX_ATTEMPTS)

    assert_suspicious_ip(log_in(anonymous, KNOWN, ip=SPRAYER))


def test_the_count_is_shared_by_every_process_on_the_store(
    settings: Settings, container: Container
) -> None:
    other = build_http(settings)  # a second HTTP process on the same store
    try:
        logins = [container.login, other.login]
        for n in range(IP_MAX_ATTEMPTS):  # alternately, as a load balancer would send them
            with pytest.raises(WrongCredentials):
                logins[n % 2].authenticate(DEFAULT_CONNECTION, f"v{n}@example.com", "x", SPRAYER)
        for login in logins:
            with pytest.raises(SuspiciousIp):
                login.authenticate(DEFAULT_CONNECTION, KNOWN, PASSWORD_TEXT, SPRAYER)
    finally:
        other.search.close()
        other.profiles.close()
