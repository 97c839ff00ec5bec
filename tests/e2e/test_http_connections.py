"""What a client cannot hold of `metaledger serve`: idle and slow connections are closed, heads
and connections are capped, and every refusal the server makes before the app sees a request
has Auth0's error body."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import orjson
import pytest

from metaledger.api.settings import Settings
from tests.support.ports import free_port
from tests.support.serve import ServeProcess
from tests.support.sockets import readable_within

MAX_HEADER_BYTES = 8 * 1024
MAX_CONNECTIONS = 6
# How long a test waits for the server to answer or close: far beyond the 1 s timeouts.
WAIT_SECONDS = 30
TRICKLE_INTERVAL = 0.1


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    directory = tmp_path_factory.mktemp("connections")
    settings = Settings(
        data_dir=directory / "data",
        header_timeout_seconds=1,
        body_timeout_seconds=1,
        max_header_bytes=MAX_HEADER_BYTES,
        max_connections=MAX_CONNECTIONS,
    )
    with ServeProcess(settings, free_port(), 1, directory / "serve.log") as running:
        yield running


def connect(serve: ServeProcess) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", serve.port))
    connection.settimeout(WAIT_SECONDS)
    return connection


def until_closed(connection: socket.socket, trickle: bytes = b"") -> bytes:
    """What the server sends until it closes the connection, while the client sends `trickle`
    every 100 ms (when there is nothing to read)."""
    received: list[bytes] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if readable_within(connection, TRICKLE_INTERVAL):
            chunk = connection.recv(65536)
            if not chunk:
                return b"".join(received)
            received.append(chunk)
        elif trickle:
            try:
                connection.sendall(trickle)
            except OSError:  # closed meanwhile: what the server sent before is read next
                continue
    pytest.fail(f"the connection is still open after {WAIT_SECONDS} s")


def parse(response: bytes) -> tuple[int, dict[str, str], Any]:
    """The status, headers (lowercase names) and JSON body of one HTTP/1.1 response."""
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, orjson.loads(body)


def assert_auth0_error(response: bytes, status: int, error_code: str) -> dict[str, str]:
    """Asserts an Auth0 error body with `status` and `errorCode`; returns the headers."""
    got, headers, body = parse(response)
    assert (got, headers["content-type"]) == (status, "application/json"), response
    assert body == {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": body["message"],
        "errorCode": error_code,
    }
    return headers


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    serve: ServeProcess,
) -> None:
    with connect(serve) as connection:
        assert until_closed(connection) == b""


def test_a_head_sent_a_byte_at_a_time_gets_408(serve: ServeProcess) -> None:
    with connect(serve) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: metaledger\r\n")
        response = until_closed(connection, trickle=b"x")
    assert_auth0_error(response, 408, "request_timeout")


def test_a_body_sent_slowly_gets_408_and_the_connection_is_closed(serve: ServeProcess) -> None:
    with connect(serve) as connection:
        connection.sendall(
            b"POST /api/v2/users HTTP/1.1\r\nHost: metaledger\r\n"
            b"Authorization: Bearer " + serve.token().encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        response = until_closed(connection, trickle=b" ")
    headers = assert_auth0_error(response, 408, "request_timeout")
    assert headers["connection"] == "close"


def test_a_body_nobody_reads_cannot_hold_the_connection(serve: ServeProcess) -> None:
    with connect(serve) as connection:
        # Answered at once (405) without its body being read; the body keeps coming.
        connection.sendall(
            b"PUT /healthz HTTP/1.1\r\nHost: metaledger\r\nContent-Length: 1000\r\n\r\n{"
        )
        response = until_closed(connection, trickle=b" ")
    assert parse(response)[0] == 405


@pytest.mark.parametrize(
    "request_",
    [
        b"POST /api/v2/users HTTP/1.1\r\nHost: metaledger\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v2/users HTTP/1.1\r\nHost: metaledger\r\nContent-Length: -1\r\n\r\n",
        b"POST /api/v2/users HTTP/1.1\r\nHost: m\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: metaledger\r\nBad Header\r\n\r\n",
        b"NOT HTTP\r\n\r\n",
    ],
    ids=["letters", "negative", "twice", "bad header", "not http"],
)
def test_a_malformed_request_gets_an_auth0_400(serve: ServeProcess, request_: bytes) -> None:
    with connect(serve) as connection:
        connection.sendall(request_)
        response = until_closed(connection)
    assert_auth0_error(response, 400, "invalid_request")


@pytest.mark.parametrize("in_pieces", [False, True], ids=["whole", "in pieces"])
@pytest.mark.parametrize(
    ("start", "filler", "status", "error_code"),
    [
        (b"GET /api/v2/users?q=", b"a", 414, "invalid_uri"),
        (b"GET /healthz HTTP/1.1\r\nHost: metaledger\r\nCookie: ", b"c", 431, "invalid_headers"),
    ],
    ids=["url", "headers"],
)
def test_an_over_long_head_gets_its_auth0_error(
    serve: ServeProcess, start: bytes, filler: bytes, status: int, error_code: str, in_pieces: bool
) -> None:
    with connect(serve) as connection:
        if in_pieces:  # the head never ends: it is refused once past the limit
            connection.sendall(start)
            response = until_closed(connection, trickle=filler * 1000)
        else:  # 70,000 bytes: past what the HTTP parser itself takes in a URL
            connection.sendall(start + filler * 70_000 + b" HTTP/1.1\r\nHost: m\r\n\r\n")
            response = until_closed(connection)
    assert_auth0_error(response, status, error_code)


def test_connections_beyond_the_cap_get_503(serve: ServeProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: metaledger\r\n\r\n"
    held = [connect(serve) for _ in range(MAX_CONNECTIONS)]
    try:
        for connection in held:  # answered, and kept alive
            connection.sendall(request)
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        with connect(serve) as extra:
            extra.sendall(request)
            response = until_closed(extra)
        headers = assert_auth0_error(response, 503, "temporarily_unavailable")
        assert headers["retry-after"] == "1"
    finally:
        for connection in held:
            connection.close()

    deadline = time.monotonic() + WAIT_SECONDS
    while True:  # the server sees the held connections closed
        with connect(serve) as connection:
            connection.sendall(request)
            if connection.recv(65536).startswith(b"HTTP/1.1 200"):
                break
        assert time.monotonic() < deadline, "connections are still refused"
        time.sleep(TRICKLE_INTERVAL)
