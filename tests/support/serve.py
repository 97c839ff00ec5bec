"""`metaledger serve` as a process group of its own, which a test can kill whole or in part."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from metaledger.api.settings import Settings
from tests.support.oauth import client_credentials_token
from tests.support.processes import ROOT, environment

CLIENT_ID = "serve-admin"
CLIENT_SECRET = "serve-admin-secret-0123456789"
STARTUP_SECONDS = 60


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie has let go of everything and counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_exit_within(pids: list[int], seconds: float) -> None:
    """Waits until none of the processes runs; fails when one still does after `seconds`."""
    deadline = time.monotonic() + seconds
    while lingering := [pid for pid in pids if alive(pid)]:
        assert time.monotonic() < deadline, f"processes {lingering} still run after {seconds} s"
        time.sleep(0.1)


@dataclass(frozen=True)
class RunningProcess:
    pid: int
    parent: int
    group: int


def running_processes() -> Iterator[RunningProcess]:
    """The processes of the machine, zombies left out."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != "Z":
            yield RunningProcess(int(stat.parent.name), int(fields[1]), int(fields[3]))


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class ServeProcess:
    """`metaledger serve` on `port` with the settings' store and data, in a session (and process
    group) of its own; leaving the context kills whatever is left of the group."""

    def __init__(
        self,
        settings: Settings,
        port: int,
        http_workers: int,
        log: Path,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.port = port
        self.http_workers = http_workers
        self.log = log
        # METALEDGER_* settings beyond those of `settings`; they win over the ones made here.
        self.variables = dict(variables or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> ServeProcess:
        env = {
            **environment(self.settings),
            "METALEDGER_PORT": str(self.port),
            "METALEDGER_HTTP_WORKERS": str(self.http_workers),
            "METALEDGER_ADMIN_CLIENT_ID": CLIENT_ID,
            "METALEDGER_ADMIN_CLIENT_SECRET": CLIENT_SECRET,
            # No metrics unless a test asks for them: tests run side by side, one port each.
            "METALEDGER_METRICS_PORT": "0",
            **self.variables,
        }
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "metaledger.api.cli", "serve"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_until_serving()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill_group()

    def wait_until_serving(self) -> None:
        """Until the store answers and, with several HTTP processes, all of them have started."""
        deadline = time.monotonic() + STARTUP_SECONDS
        spawned = self.http_workers if self.http_workers > 1 else 0
        while not (self._ready() and len(self.http_processes()) == spawned):
            assert self.process is not None
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"serve did not start:\n{self.log.read_text()}"
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            response = httpx.get(f"{self.base_url}/readyz")
        except httpx.TransportError:
            return False
        if response.status_code == 200:
            return True
        # A read model still catching up on a backlog: the store answers all the same.
        store = response.json().get("checks", {}).get("store", {})
        return response.status_code == 503 and store.get("status") == "ready"

    def http_processes(self) -> list[int]:
        """The HTTP processes the supervisor started (none with a single HTTP worker)."""
        if self.http_workers == 1:
            return []
        # multiprocessing's resource tracker is a child too; the HTTP processes are spawned.
        return [
            process.pid
            for process in running_processes()
            if process.parent == self.pid and b"spawn_main" in command_line(process.pid)
        ]

    def token(self) -> str:
        return client_credentials_token(
            self.base_url, CLIENT_ID, CLIENT_SECRET, self.settings.management_audience
        )

    def kill_supervisor(self) -> None:
        """SIGKILL for the `serve` process alone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def kill_group(self) -> None:
        """SIGKILL for every process of the group still there; returns once they are gone."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 30
        while self.group_members():
            assert time.monotonic() < deadline, f"processes {self.group_members()} survived SIGKILL"
            time.sleep(0.05)

    def group_members(self) -> list[int]:
        """The running processes of the group (its id is the supervisor's process id)."""
        return [process.pid for process in running_processes() if process.group == self.pid]
