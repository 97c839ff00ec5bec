"""A stop of `metaledger serve` (SIGTERM) finishes in bounded time whatever the store's state."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metaledger.api.settings import Settings
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.serve import ServeProcess
from tests.support.sockets import readable_within

# A liveness bound, well above the default deadline of a stop (10 s): without one, serve waited
# for requests blocked on the store's pool (30 s a try, 10 tries) before it even began to stop
# its background workers.
STOP_LIMIT_SECONDS = 20
# A request that fails fast against a stopped server answers within this (503, in about 2 s).
ANSWERED_SECONDS = 3.0
ATTEMPTS = 20


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, which it stops."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


def a_request_waiting_on_the_store(port: int) -> socket.socket:
    """A connection whose request waits on the store. Once the pool has found its connections
    broken (the first requests fail within 2 s), a request waits for a new one, 30 s a try."""
    for _ in range(ATTEMPTS):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"GET /readyz HTTP/1.1\r\nHost: metaledger\r\n\r\n")
        if not readable_within(connection, ANSWERED_SECONDS):
            return connection
        connection.close()
    pytest.fail(f"none of {ATTEMPTS} requests waited on the store")


@pytest.mark.parametrize("http_workers", [1, 2])
def test_serve_stops_in_bounded_time_when_postgresql_is_gone_under_a_request(
    postgres: PostgresServer, tmp_path: Path, http_workers: int
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres.url())
    with ServeProcess(settings, free_port(), http_workers, tmp_path / "serve.log") as serve:
        postgres.stop()
        with a_request_waiting_on_the_store(serve.port):
            assert serve.process is not None

            serve.process.send_signal(signal.SIGTERM)

            try:
                serve.process.wait(timeout=STOP_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                pytest.fail(f"serve still runs {STOP_LIMIT_SECONDS} s after SIGTERM")
