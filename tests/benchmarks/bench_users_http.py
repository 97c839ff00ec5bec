"""PATCH and GET-by-id throughput and latency over HTTP, SQLite and PostgreSQL, 10,000 users.

Run: .venv/bin/python -m tests.benchmarks.bench_users_http [--users N] [--requests N]
     [--http-workers N] [--backend sqlite|postgres|both]

The server is a real `metaledger serve` process (with `--http-workers` > 1, that many HTTP
processes and the search projector in the supervising one); the load comes from another
process on the same machine (all share its cores). Baseline, measured in the same run:
GET /healthz, the cost of the HTTP stack alone.
"""

from __future__ import annotations

import argparse
import random

import aiohttp

from tests.benchmarks.harness import Figures, admin_token, load, serve
from tests.support.postgres import PostgresServer
from tests.support.users import PASSWORD

PLANS = ("free", "pro", "enterprise")
ROLES = ("viewer", "editor", "admin", "billing")


def bench_backend(
    label: str, database_url: str | None, users: int, requests: int, http_workers: int
) -> None:
    # Creates carry a password; its argon2id hash (bench_auth measures it) is made cheap here so
    # that the figures are those of the metadata operations.
    cheap_hashes = {"METALEDGER_ARGON2_TIME_COST": "1", "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024"}
    with serve(
        database_url, {"METALEDGER_HTTP_WORKERS": str(http_workers), **cheap_hashes}
    ) as base_url:
        token = admin_token(base_url)
        user_ids: list[str] = []

        async def create(session: aiohttp.ClientSession, index: int) -> int:
            body = {
                "connection": "Username-Password-Authentication",
                "password": PASSWORD,
                "email": f"user{index}@example.com",
                "user_metadata": {"hobby": "surfing", "theme": "dark"},
                "app_metadata": {"plan": PLANS[index % 3], "roles": [ROLES[index % 4]]},
            }
            async with session.post("/api/v2/users", json=body) as response:
                if response.status == 201:
                    user_ids.append((await response.json())["user_id"])
                return response.status

        async def healthz(session: aiohttp.ClientSession, _: int) -> int:
            async with session.get("/healthz") as response:
                await response.read()
                return response.status

        chooser = random.Random(7)

        async def patch(session: aiohttp.ClientSession, index: int) -> int:
            user_id = chooser.choice(user_ids)
            body = {
                "user_metadata": {"theme": ("dark", "light")[index % 2], "counter": index},
                "app_metadata": {"plan": PLANS[index % 3]},
            }
            async with session.patch(f"/api/v2/users/{user_id}", json=body) as response:
                await response.read()
                return response.status

        async def patch_plan(session: aiohttp.ClientSession, index: int) -> int:
            body = {"app_metadata": {"plan": PLANS[index % 3]}}
            async with session.patch(
                f"/api/v2/users/{chooser.choice(user_ids)}", json=body
            ) as response:
                await response.read()
                return response.status

        async def get(session: aiohttp.ClientSession, _: int) -> int:
            async with session.get(f"/api/v2/users/{chooser.choice(user_ids)}") as response:
                await response.read()
                return response.status

        print(f"\n== {label}, {http_workers} HTTP process(es) ==")
        baseline = load("GET /healthz (baseline)", base_url, token, healthz, requests, 32)
        print(baseline.line())
        seeded = load(f"POST /users ({users} users)", base_url, token, create, users, 16)
        print(seeded.line(baseline))
        # Little's law: latency is concurrency over throughput, so each call is measured with a
        # few clients (latency) and with many (throughput).
        results: list[Figures] = [
            load(
                f"PATCH app_metadata, {clients} clients",
                base_url,
                token,
                patch_plan,
                requests,
                clients,
            )
            for clients in (8, 16, 32)
        ]
        results += [
            load(
                f"PATCH both buckets, {clients} clients", base_url, token, patch, requests, clients
            )
            for clients in (8, 16, 32)
        ]
        results += [
            load(f"GET /users/{{id}}, {clients} clients", base_url, token, get, requests, clients)
            for clients in (8, 32)
        ]
        for figures in results:
            print(figures.line(baseline))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--users", type=int, default=10_000)
    options.add_argument("--requests", type=int, default=20_000)
    options.add_argument("--http-workers", type=int, default=1)
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = options.parse_args()
    if args.backend in ("sqlite", "both"):
        bench_backend(
            "SQLite (embedded default)", None, args.users, args.requests, args.http_workers
        )
    if args.backend in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            bench_backend(
                "PostgreSQL (fsync on)",
                postgres.url(postgres.create_database()),
                args.users,
                args.requests,
                args.http_workers,
            )
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
