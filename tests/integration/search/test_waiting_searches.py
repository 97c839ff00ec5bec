"""Searches waiting for `min_position`: no thread held, a cap per process, the log's end checked.

The API runs without its embedded projector, so the read model stays behind the event log
until a test projects the log itself: a search for a written position waits as long as the
test wants it to.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from http.client import HTTPResponse

import httpx
import pytest

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.http.routes import search as search_route
from metaledger.api.settings import Settings
from metaledger.projections.search.projector import Projector
from tests.integration.search.conftest import create
from tests.support.server import RunningServer

# More waiting searches than the thread pool of blocking routes has threads (40).
WAITERS = 60


@pytest.fixture
def container(settings: Settings) -> Container:
    return build_http(settings.replace(embedded_workers=False))


def unprojected_write(container: Container) -> int:
    """A user written to the event log but not yet to the read model; its position."""
    create(container.profiles, "auth0|waited-for")
    end = container.profiles.recorder.max_notification_id() or 0
    assert (container.search.position() or 0) < end
    return end


def project(container: Container) -> None:
    Projector(container.profiles, container.search).catch_up()


@pytest.fixture
def connections() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def send_search(
    server: RunningServer, token: str, min_position: int, connections: ExitStack
) -> socket.socket:
    """A connection whose search, waiting for `min_position`, has been sent in full."""
    connection = connections.enter_context(
        socket.create_connection(("127.0.0.1", server.port), timeout=60)
    )
    connection.sendall(
        f"GET /api/v2/users?min_position={min_position} HTTP/1.1\r\nHost: metaledger\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
    )
    return connection


def answered(waiting: list[socket.socket], timeout: float = 0) -> list[socket.socket]:
    """The connections whose response has started to arrive (within `timeout` seconds)."""
    # poll, not select: a test process holding many files has descriptors past select's 1024.
    poller = select.poll()
    for connection in waiting:
        poller.register(connection, select.POLLIN)
    ready = {fd for fd, _ in poller.poll(timeout * 1000)}
    return [connection for connection in waiting if connection.fileno() in ready]


def response_of(connection: socket.socket) -> HTTPResponse:
    response = HTTPResponse(connection)
    response.begin()
    response.read()
    return response


def test_healthz_answers_while_60_searches_wait_for_the_read_model(
    server: RunningServer, token: str, container: Container, connections: ExitStack
) -> None:
    position = unprojected_write(container)
    waiting = [send_search(server, token, position, connections) for _ in range(WAITERS)]
    health = httpx.get(f"{server.base_url}/healthz", timeout=60)
    # Answered before any search stopped waiting (they wait up to 10 s for the read model).
    answered_first = answered(waiting) == []
    project(container)
    statuses = [response_of(connection).status for connection in waiting]
    assert (health.status_code, answered_first, statuses) == (200, True, [200] * WAITERS)


def test_a_search_over_the_cap_of_waiters_is_refused_at_once_with_retry_after(
    server: RunningServer,
    token: str,
    container: Container,
    connections: ExitStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_route, "MAX_WAITERS", 2)
    position = unprojected_write(container)
    waiting = [send_search(server, token, position, connections) for _ in range(3)]
    # Two searches wait for the read model; the third one's answer comes first.
    first = answered(waiting, timeout=60)
    refused = response_of(first[0]) if len(first) == 1 else None
    project(container)
    statuses = [response_of(c).status for c in waiting if c not in first]
    assert refused is not None
    assert (
        refused.status,
        refused.getheader("Retry-After"),
        refused.getheader("Content-Type"),
        statuses,
    ) == (503, "1", "application/json", [200, 200])


def test_the_refusal_over_the_cap_is_an_auth0_error_body(
    http: httpx.Client, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_route, "MAX_WAITERS", 0)
    response = http.get("/api/v2/users", params={"min_position": unprojected_write(container)})
    assert response.json() == {
        "statusCode": 503,
        "error": "Service Unavailable",
        "message": "Too many searches are waiting for the search index; try again shortly.",
        "errorCode": "temporarily_unavailable",
    }


def test_a_min_position_past_the_end_of_the_log_is_refused_with_400(
    http: httpx.Client, container: Container
) -> None:
    end = unprojected_write(container)
    response = http.get("/api/v2/users", params={"min_position": end + 1})
    assert (response.status_code, response.json()) == (
        400,
        {
            "statusCode": 400,
            "error": "Bad Request",
            "message": f"Query validation error: min_position {end + 1} is past the end of "
            f"the event log ({end}); pass the X-Metaledger-Position of a write.",
            "errorCode": "invalid_query_string",
        },
    )


def test_a_min_position_far_past_any_integer_is_refused_with_400(http: httpx.Client) -> None:
    response = http.get("/api/v2/users", params={"min_position": 2**64})
    assert (response.status_code, response.json()["errorCode"]) == (400, "invalid_query_string")


def test_a_search_whose_position_is_not_reached_in_time_gets_503(
    http: httpx.Client, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_route, "MAX_WAIT_SECONDS", 0.05)
    position = unprojected_write(container)
    response = http.get("/api/v2/users", params={"min_position": position})
    assert (response.status_code, response.json()["message"]) == (
        503,
        f"The search index has not reached position {position} yet; try again.",
    )


def test_a_search_for_a_position_already_reached_does_not_wait(
    http: httpx.Client, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_route, "MAX_WAITERS", 0)  # a search that waited would be refused
    position = unprojected_write(container)
    project(container)
    response = http.get("/api/v2/users", params={"min_position": position})
    assert (
        response.status_code,
        response.headers["X-Metaledger-Position"],
        [user["user_id"] for user in response.json()],
    ) == (200, str(position), ["auth0|waited-for"])
