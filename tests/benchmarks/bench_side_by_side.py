"""metaledger beside a plain-CRUD app (tests/benchmarks/plain_crud.py) on the same store, with
the same load generator, phases interleaved: healthz, PATCH one app_metadata key, GET by id,
search `app_metadata.plan:"pro"` (50 a page), create; 8 and 16 clients; 1, 2 and 4 HTTP
processes each.

Run: .venv/bin/python -m tests.benchmarks.bench_side_by_side [--users N] [--requests N]
     [--workers 1,2,4] [--rounds N] [--backend sqlite|postgres|both] [--access-log]
     (FULL=1 in the environment: 10,000 users and 4,000 requests a phase)

Neither side logs a line per request unless --access-log: the plain app runs without uvicorn's
access log, so metaledger runs with METALEDGER_ACCESS_LOG=false to compare like with like.

Both servers run for the whole of a configuration; each phase runs on one, then on the other,
the order turned round every round, so that what else the machine does falls on both alike.
Ratios are metaledger's figure over the plain app's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from tests.benchmarks import plain_crud
from tests.benchmarks.harness import Call, Figures, admin_token, answering, load, serve
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.users import PASSWORD

PLANS = ("free", "pro", "enterprise")
ROLES = ("viewer", "editor", "admin", "billing")
CLIENTS = (8, 16)
SEARCH_QUERY = {"q": 'app_metadata.plan:"pro"', "per_page": "50", "search_engine": "v3"}


@dataclass(frozen=True)
class Target:
    """One server under load: its base URL, its bearer token, and the users it holds."""

    name: str
    base_url: str
    token: str
    user_ids: list[str]


@contextmanager
def plain_server(database: str, workers: int) -> Iterator[str]:
    """The plain-CRUD app under uvicorn with `workers` processes, as metaledger is served."""
    plain_crud.create_schema(database)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.benchmarks.plain_crud:app",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            "--no-access-log",
            "--log-level=warning",
        ],
        env={**os.environ, "PLAIN_CRUD_DATABASE": database},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    with answering(process, f"{base_url}/healthz", "the plain-CRUD app"):
        yield base_url


def creating(target: Target, offset: int) -> Call:
    async def create(session: aiohttp.ClientSession, index: int) -> int:
        number = offset + index
        body = {
            "connection": "Username-Password-Authentication",
            "password": PASSWORD,
            "email": f"user{number}@example.com",
            "user_metadata": {"hobby": "surfing", "theme": "dark"},
            "app_metadata": {"plan": PLANS[number % 3], "roles": [ROLES[number % 4]]},
        }
        async with session.post("/api/v2/users", json=body) as response:
            if response.status == 201:
                target.user_ids.append((await response.json())["user_id"])
            return response.status

    return create


def calls(target: Target) -> dict[str, Call]:
    async def healthz(session: aiohttp.ClientSession, _: int) -> int:
        async with session.get("/healthz") as response:
            await response.read()
            return response.status

    async def patch(session: aiohttp.ClientSession, index: int) -> int:
        user_id = target.user_ids[(index * 7919) % len(target.user_ids)]
        body = {"app_metadata": {"plan": PLANS[index % 3]}}
        async with session.patch(f"/api/v2/users/{user_id}", json=body) as response:
            await response.read()
            return response.status

    async def get(session: aiohttp.ClientSession, index: int) -> int:
        user_id = target.user_ids[(index * 7919) % len(target.user_ids)]
        async with session.get(f"/api/v2/users/{user_id}") as response:
            await response.read()
            return response.status

    async def search(session: aiohttp.ClientSession, index: int) -> int:
        page = index % 4  # the first four pages of ~1/3 of the users
        async with session.get("/api/v2/users", params={**SEARCH_QUERY, "page": page}) as response:
            await response.read()
            return response.status

    return {
        "GET /healthz": healthz,
        "PATCH one app_metadata key": patch,
        "GET /users/{id}": get,
        'search app_metadata.plan:"pro"': search,
    }


def merged(name: str, rounds: list[Figures]) -> Figures:
    return Figures(
        name,
        sum(f.requests for f in rounds),
        sum(f.seconds for f in rounds),
        [latency for f in rounds for latency in f.latencies_ms],
        sum(f.errors for f in rounds),
    )


def compare(title: str, ours: Figures, plain: Figures) -> None:
    ratio = ours.throughput / plain.throughput
    tail = ours.percentile(0.99) / plain.percentile(0.99)
    print(
        f"{title:<44} {ours.throughput:7.0f} vs {plain.throughput:7.0f} req/s  {ratio:5.2f}x"
        f"   p50 {ours.percentile(0.5):6.2f} vs {plain.percentile(0.5):6.2f} ms"
        f"   p99 {ours.percentile(0.99):6.2f} vs {plain.percentile(0.99):6.2f} ms ({tail:4.2f}x)"
        f"   errors {ours.errors}/{plain.errors}"
    )


def interleaved(targets: tuple[Target, Target], title: str, rounds: int, run: Runner) -> None:
    """`run` on both targets `rounds` times, the order turned round each round."""
    figures: dict[str, list[Figures]] = {target.name: [] for target in targets}
    for round_number in range(rounds):
        order = targets if round_number % 2 == 0 else targets[::-1]
        for target in order:
            figures[target.name].append(run(target, round_number))
    ours, plain = (merged(title, figures[target.name]) for target in targets)
    compare(title, ours, plain)


class Runner:
    """A phase's load on one target for one round (a callable, so the phases read as data)."""

    def __init__(self, phase: str, clients: int, requests: int) -> None:
        self.phase, self.clients, self.requests = phase, clients, requests

    def __call__(self, target: Target, _: int) -> Figures:
        call = calls(target)[self.phase]
        return load(self.phase, target.base_url, target.token, call, self.requests, self.clients)


class Creator(Runner):
    """Creates: each round adds its own users, numbered after those already made."""

    def __call__(self, target: Target, _: int) -> Figures:
        call = creating(target, len(target.user_ids))
        return load("create", target.base_url, target.token, call, self.requests, self.clients)


def wait_for_search(target: Target, expected: int) -> None:
    """The search read model follows the log: wait until it holds every `pro` user."""
    query = {**SEARCH_QUERY, "per_page": "1", "include_totals": "true"}
    headers = {"Authorization": f"Bearer {target.token}"}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = httpx.get(f"{target.base_url}/api/v2/users", params=query, headers=headers)
        if found.status_code == 200 and found.json()["total"] >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError("the search read model did not catch up")


def bench_configuration(
    label: str, metaledger_url: str | None, plain_database: str, workers: int, args: Options
) -> None:
    cheap_hashes = {"METALEDGER_ARGON2_TIME_COST": "1", "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024"}
    environment = {
        "METALEDGER_HTTP_WORKERS": str(workers),
        "METALEDGER_ACCESS_LOG": str(args.access_log).lower(),
        **cheap_hashes,
    }
    with (
        serve(metaledger_url, environment) as base_url,
        plain_server(plain_database, workers) as plain_url,
    ):
        targets = (
            Target("metaledger", base_url, admin_token(base_url), []),
            Target("plain", plain_url, plain_crud.TOKEN, []),
        )
        lines = "a line per request" if args.access_log else "no request lines on either side"
        print(f"\n== {label}, {workers} HTTP process(es), {lines}: metaledger vs plain CRUD ==")
        per_round = args.users // (args.rounds * len(CLIENTS))
        for clients in CLIENTS:
            interleaved(
                targets, f"create, {clients} clients", args.rounds, Creator("", clients, per_round)
            )
        created = len(targets[0].user_ids)
        wait_for_search(targets[0], sum(1 for number in range(created) if number % 3 == 1))
        interleaved(
            targets,
            "GET /healthz, 8 clients",
            args.rounds,
            Runner("GET /healthz", 8, args.requests),
        )
        for phase in list(calls(targets[0]))[1:]:
            for clients in CLIENTS:
                interleaved(
                    targets,
                    f"{phase}, {clients} clients",
                    args.rounds,
                    Runner(phase, clients, args.requests),
                )


@dataclass(frozen=True)
class Options:
    users: int
    requests: int
    workers: list[int]
    rounds: int
    backend: str
    access_log: bool


def bench_sqlite(args: Options) -> None:
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="plain-crud-") as directory:
            plain_file = str(Path(directory) / "users.sqlite3")
            bench_configuration("SQLite", None, plain_file, workers, args)


def bench_postgres(args: Options) -> None:
    postgres = PostgresServer(durable=True)
    postgres.start()
    try:
        for workers in args.workers:
            ours, plain = postgres.create_database(), postgres.create_database()
            bench_configuration(
                "PostgreSQL (fsync on)", postgres.url(ours), postgres.url(plain), workers, args
            )
            postgres.drop_database(ours)
            postgres.drop_database(plain)
    finally:
        postgres.stop()


def main() -> None:
    full = bool(os.environ.get("FULL"))
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--users", type=int, default=10_000 if full else 1_200)
    options.add_argument("--requests", type=int, default=4_000 if full else 800)
    options.add_argument("--workers", default="1,2,4")
    options.add_argument("--rounds", type=int, default=2)
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    options.add_argument(
        "--access-log",
        action="store_true",
        help="metaledger logs a line per request (its default); without, neither side logs "
        "requests, as the plain app runs (uvicorn --no-access-log)",
    )
    parsed = options.parse_args()
    args = Options(
        parsed.users,
        parsed.requests,
        [int(n) for n in parsed.workers.split(",")],
        parsed.rounds,
        parsed.backend,
        parsed.access_log,
    )
    if args.backend in ("sqlite", "both"):
        bench_sqlite(args)
    if args.backend in ("postgres", "both"):
        bench_postgres(args)


if __name__ == "__main__":
    main()
