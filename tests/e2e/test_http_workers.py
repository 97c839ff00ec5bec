"""`metaledger serve` with several HTTP processes: they share the store and see each other's
writes at once, the one search projector (in the supervising process) serves them all, and they
end with their supervisor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from metaledger.api.settings import Settings
from tests.support.oauth import client_credentials_token
from tests.support.ports import free_port
from tests.support.processes import ROOT, environment
from tests.support.serve import ServeProcess, alive

CLIENT_ID = "workers-admin"
CLIENT_SECRET = "workers-admin-secret-0123456789"
PROCESSES = 2
# How long the HTTP processes of a killed supervisor may take to notice and stop (they stop
# within METALEDGER_SHUTDOWN_TIMEOUT_SECONDS, 10 s by default).
ORPHAN_GRACE_SECONDS = 30


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The base URL and the process id of `metaledger serve`."""
    port = free_port()
    env = {
        **environment(settings),
        "METALEDGER_PORT": str(port),
        "METALEDGER_HTTP_WORKERS": str(PROCESSES),
        "METALEDGER_ADMIN_CLIENT_ID": CLIENT_ID,
        "METALEDGER_ADMIN_CLIENT_SECRET": CLIENT_SECRET,
    }
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "metaledger.api.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
        yield url, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def http_process_ids(parent: int) -> list[int]:
    """The processes `parent` spawned (with multiprocessing) to serve HTTP."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


ESTABLISHED, LISTEN = "01", "0A"


def sockets_held(pid: int, port: int, state: str) -> int:
    """How many TCP sockets on local `port` in `state` process `pid` holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state:
                inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


def listening_http_processes(parent: int, port: int) -> list[int]:
    """Waits until `parent` has all its HTTP processes, each listening on `port`."""
    deadline = time.monotonic() + 60
    while not (
        len(processes := http_process_ids(parent)) == PROCESSES
        and all(sockets_held(process, port, LISTEN) for process in processes)
    ):
        assert time.monotonic() < deadline, f"not {PROCESSES} HTTP processes listening"
        time.sleep(0.1)
    return processes


def test_connections_opened_at_once_spread_over_the_http_processes(
    server: tuple[str, int],
) -> None:
    base_url, pid = server
    port = int(base_url.rsplit(":", 1)[1])
    processes = listening_http_processes(pid, port)
    # A client pool opening its connections together (24: fewer than 3 on one process by chance
    # with probability 4e-5 when the kernel spreads them).
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    try:
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: metaledger\r\n\r\n")
        for connection in connections:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        held = [sockets_held(process, port, ESTABLISHED) for process in processes]
    finally:
        for connection in connections:
            connection.close()
    assert sum(held) == len(connections)
    assert min(held) >= 3, held


def test_several_http_processes_serve_one_store_and_one_search(
    settings: Settings, server: tuple[str, int]
) -> None:
    base_url, pid = server
    deadline = time.monotonic() + 30
    while len(http_process_ids(pid)) < PROCESSES:  # ready once the first one listens
        assert time.monotonic() < deadline, f"not {PROCESSES} HTTP processes"
        time.sleep(0.1)
    token = client_credentials_token(
        base_url, CLIENT_ID, CLIENT_SECRET, settings.management_audience
    )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        created = http.post(
            "/api/v2/users",
            json={
                "connection": "Username-Password-Authentication",
                "email": "workers@example.com",
                "password": "correct horse battery staple",
                "app_metadata": {"plan": "free"},
            },
        )
        assert created.status_code == 201
        user_id = created.json()["user_id"]
        # Each new connection lands on either process; every one sees every write at once.
        for round_ in range(20):
            with httpx.Client(base_url=base_url, headers=headers) as fresh:
                patched = fresh.patch(
                    f"/api/v2/users/{user_id}", json={"app_metadata": {"round": round_}}
                )
                assert patched.status_code == 200
            read = http.get(f"/api/v2/users/{user_id}")
            assert read.json()["app_metadata"] == {"plan": "free", "round": round_}

        deadline = time.monotonic() + 30
        while True:
            found = http.get(
                "/api/v2/users", params={"q": "app_metadata.round:19", "search_engine": "v3"}
            )
            if [user["user_id"] for user in found.json()] == [user_id]:
                break
            assert time.monotonic() < deadline, found.text
            time.sleep(0.1)


def test_an_http_process_that_dies_is_replaced(server: tuple[str, int]) -> None:
    base_url, pid = server
    port = int(base_url.rsplit(":", 1)[1])
    listening = listening_http_processes(pid, port)
    os.kill(listening[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while listening[0] in http_process_ids(pid):
        assert time.monotonic() < deadline, "the killed HTTP process is still there"
        time.sleep(0.1)

    replaced = listening_http_processes(pid, port)

    assert listening[0] not in replaced
    assert httpx.get(f"{base_url}/readyz").status_code == 200


def test_serve_stops_with_an_error_when_the_port_is_taken(
    settings: Settings, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **environment(settings),
            "METALEDGER_PORT": str(taken.getsockname()[1]),
            "METALEDGER_HTTP_WORKERS": str(PROCESSES),
        }
        serve = subprocess.run(
            [sys.executable, "-m", "metaledger.api.cli", "serve"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=60,
        )
    assert serve.returncode == STARTUP_FAILURE
    assert b"cannot listen on" in serve.stderr


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_the_http_processes_stop_when_their_supervisor_is_killed(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with ServeProcess(settings, port, PROCESSES, tmp_path / "serve.log") as serve:
        http_processes = serve.http_processes()
        assert len(http_processes) == PROCESSES

        serve.kill_supervisor()

        deadline = time.monotonic() + ORPHAN_GRACE_SECONDS
        while lingering := [pid for pid in http_processes if alive(pid)]:
            assert time.monotonic() < deadline, (
                f"HTTP processes {lingering} still serve {ORPHAN_GRACE_SECONDS} s after their "
                "supervisor was killed"
            )
            time.sleep(0.1)
        # Nothing listens on the port any more: a serve started now has it to itself.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()
