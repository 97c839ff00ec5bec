"""Crash recovery: `metaledger serve` killed with SIGKILL under steady writes loses no write it
acknowledged, in the event store or in the search read model, once it is started again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from metaledger.api.settings import Settings
from tests.support.ports import free_port
from tests.support.serve import ServeProcess, assert_exit_within
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
POSITION_HEADER = "X-Metaledger-Position"
WRITERS = 3
# Writes acknowledged before the kill: enough that it lands amid a steady stream of them.
WRITES_BEFORE_KILL = 90
# How long the HTTP processes of a killed supervisor may take to notice and exit.
ORPHAN_GRACE_SECONDS = 30
TIMEOUT_SECONDS = 60

Profile = tuple[dict[str, Any], dict[str, Any]]  # (user_metadata, app_metadata)


def profile(user: dict[str, Any]) -> Profile:
    return user.get("user_metadata", {}), user.get("app_metadata", {})


@dataclass(repr=False)
class Ledger:
    """What the writers were told. Per user: the profile of its last acknowledged write, and the
    profile its write in flight when the server went away would give (committed or not: both
    outcomes are allowed)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[str, Profile] = field(default_factory=dict)
    in_flight: dict[str, Profile] = field(default_factory=dict)
    writes: int = 0
    position: int = 0
    unexpected: list[str] = field(default_factory=list)

    def acknowledge(self, user_id: str, response: httpx.Response) -> None:
        with self.lock:
            self.acknowledged[user_id] = profile(response.json())
            self.writes += 1
            self.position = max(self.position, int(response.headers[POSITION_HEADER]))

    def uncertain(self, user_id: str, expected: Profile) -> None:
        with self.lock:
            self.in_flight[user_id] = expected

    def allowed(self, user_id: str) -> list[Profile | None]:
        """The profiles the store may hold for the user after the crash; None: no such user
        (only when its creation was never acknowledged)."""
        return [self.acknowledged.get(user_id), self.in_flight.get(user_id)]


def write_steadily(
    ledger: Ledger, base_url: str, token: str, writer: int, stop: threading.Event
) -> None:
    """Creates users (one write in four) and patches them, one request at a time, until the
    server goes away or `stop` is set."""
    mine: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT_SECONDS) as http:
        sequence = 0
        while not stop.is_set():
            if sequence % 4 == 0:
                user_id = f"auth0|crash-{writer}-{sequence}"
                expected: Profile = ({"writer": writer}, {"sequence": sequence})
                method, path = "POST", "/api/v2/users"
                body: dict[str, Any] = {
                    "connection": CONNECTION,
                    "password": PASSWORD,
                    "user_id": user_id,
                    "user_metadata": expected[0],
                    "app_metadata": expected[1],
                }
            else:
                user_id = mine[sequence % len(mine)]
                body = {"user_metadata": {"note": sequence}, "app_metadata": {"sequence": sequence}}
                user_metadata, app_metadata = ledger.acknowledged[user_id]
                expected = (
                    {**user_metadata, **body["user_metadata"]},
                    {**app_metadata, **body["app_metadata"]},
                )
                method, path = "PATCH", f"/api/v2/users/{user_id}"
            try:
                response = http.request(method, path, json=body)
            except httpx.TransportError:
                ledger.uncertain(user_id, expected)
                return
            if response.status_code not in (200, 201):
                ledger.unexpected.append(f"{method} {path}: {response.status_code} {response.text}")
                return
            ledger.acknowledge(user_id, response)
            if method == "POST":
                mine.append(user_id)
            sequence += 1


@dataclass(repr=False)
class Load:
    """Writer threads against a running server."""

    ledger: Ledger = field(default_factory=Ledger)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, serve: ServeProcess) -> None:
        token = serve.token()
        for writer in range(WRITERS):
            thread = threading.Thread(
                target=write_steadily,
                args=(self.ledger, serve.base_url, token, writer, self.stop),
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def wait_for_writes(self, count: int) -> None:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while self.ledger.writes < count:
            assert all(thread.is_alive() for thread in self.threads), self.ledger.unexpected
            assert time.monotonic() < deadline, f"only {self.ledger.writes} writes acknowledged"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(TIMEOUT_SECONDS)
        assert not any(thread.is_alive() for thread in self.threads), "a writer is stuck"
        assert not self.ledger.unexpected


@pytest.fixture
def load() -> Iterator[Load]:
    load = Load()
    yield load
    load.stop.set()  # the writers stop even when the test failed before finishing them


def stored_profiles(http: httpx.Client, ledger: Ledger) -> dict[str, Profile]:
    """The profile of every user the writers wrote to, read from the event store; each must be
    one the ledger allows."""
    stored = {}
    for user_id in ledger.acknowledged.keys() | ledger.in_flight.keys():
        response = http.get(f"/api/v2/users/{user_id}")
        assert response.status_code in (200, 404), response.text
        found = profile(response.json()) if response.status_code == 200 else None
        assert found in ledger.allowed(user_id), (user_id, found, ledger.allowed(user_id))
        if found is not None:
            stored[user_id] = found
    return stored


def searched_profiles(http: httpx.Client) -> dict[str, Profile]:
    """Every user in the search read model, by checkpoint pages."""
    found: dict[str, Profile] = {}
    params: dict[str, Any] = {"take": 100}
    while True:
        response = http.get("/api/v2/users", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        found.update((user["user_id"], profile(user)) for user in page["users"])
        if "next" not in page:
            return found
        params["from"] = page["next"]


def assert_recovered(serve: ServeProcess, ledger: Ledger) -> None:
    """Every acknowledged write is in the event store and, once the projector caught up after
    the restart, in the read model; the read model holds exactly what the store holds."""
    headers = {"Authorization": f"Bearer {serve.token()}"}
    with httpx.Client(base_url=serve.base_url, headers=headers, timeout=TIMEOUT_SECONDS) as http:
        stored = stored_profiles(http, ledger)
        assert ledger.acknowledged.keys() <= stored.keys()

        # Read your own write: the read model reaches the last acknowledged position.
        waited = http.get("/api/v2/users", params={"take": 1, "min_position": ledger.position})
        assert waited.status_code == 200, waited.text
        # A write in flight may have been committed after it: wait until search agrees.
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while (searched := searched_profiles(http)) != stored and time.monotonic() < deadline:
            time.sleep(0.1)
        assert searched == stored


@pytest.mark.parametrize("http_workers", [1, 2])
def test_acknowledged_writes_survive_a_sigkill_of_every_serve_process(
    settings: Settings, tmp_path: Path, load: Load, http_workers: int
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with ServeProcess(settings, port, http_workers, log) as serve:
        load.start(serve)
        load.wait_for_writes(WRITES_BEFORE_KILL)
        serve.kill_group()
    load.finish()

    with ServeProcess(settings, port, http_workers, log) as restarted:
        assert_recovered(restarted, load.ledger)


def test_acknowledged_writes_survive_a_sigkill_of_the_supervisor_alone(
    settings: Settings, tmp_path: Path, load: Load
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with ServeProcess(settings, port, 2, log) as serve:
        http_processes = serve.http_processes()
        load.start(serve)
        load.wait_for_writes(WRITES_BEFORE_KILL)
        serve.kill_supervisor()
        # Orphaned HTTP processes would keep the port, or share it with the restarted serve.
        assert_exit_within(http_processes, ORPHAN_GRACE_SECONDS)
    load.finish()

    with ServeProcess(settings, port, 2, log) as restarted:
        assert_recovered(restarted, load.ledger)
