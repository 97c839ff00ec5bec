"""Password-grant logins/s and /userinfo requests/s, with the documented argon2id parameters.

Run: .venv/bin/python -m tests.benchmarks.bench_auth [--users N] [--logins N] [--requests N]
     [--postgres]

The server is a real `metaledger serve` process with the default argon2id parameters (time
cost 3, 64 MiB, parallelism 2); the load comes from this process on the same machine. Baselines
measured in the same run: argon2id verifications per second in-process (one thread and two),
which a password login cannot beat, and GET /healthz, the cost of the HTTP stack alone.
"""

from __future__ import annotations

import argparse
import random
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from argon2 import PasswordHasher

from metaledger.api.settings import Settings
from tests.benchmarks.harness import CLIENT_ID, CLIENT_SECRET, Figures, admin_token, load, serve
from tests.support.postgres import PostgresServer

CONNECTION = "Username-Password-Authentication"
PASSWORD = "Bench-mark-2-pass"
REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"


def argon2_verifications_per_second(threads: int, verifications: int) -> float:
    """The hash alone, with the service's default parameters."""
    defaults = Settings()
    hasher = PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_cost_kib,
        parallelism=defaults.argon2_parallelism,
    )
    stored = hasher.hash(PASSWORD)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(verifications)))
    return verifications / (time.perf_counter() - started)


def bench_backend(
    label: str, database_url: str | None, users: int, logins: int, requests: int, hashes: float
) -> None:
    with serve(database_url) as base_url:
        token = admin_token(base_url)
        emails = [f"user{n}@example.com" for n in range(users)]
        access_tokens: list[str] = []
        chooser = random.Random(11)

        async def signup(session: aiohttp.ClientSession, index: int) -> int:
            body = {
                "client_id": CLIENT_ID,
                "email": emails[index],
                "password": PASSWORD,
                "connection": CONNECTION,
                "user_metadata": {"hobby": "kites"},
            }
            async with session.post("/dbconnections/signup", json=body) as response:
                await response.read()
                return response.status

        async def login(session: aiohttp.ClientSession, _: int) -> int:
            body = {
                "grant_type": REALM_GRANT,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "username": chooser.choice(emails),
                "password": PASSWORD,
                "realm": CONNECTION,
                "scope": "openid profile email",
            }
            async with session.post("/oauth/token", json=body) as response:
                if response.status == 200:
                    access_tokens.append((await response.json())["access_token"])
                return response.status

        async def userinfo(session: aiohttp.ClientSession, index: int) -> int:
            headers = {"Authorization": f"Bearer {access_tokens[index % len(access_tokens)]}"}
            async with session.get("/userinfo", headers=headers) as response:
                await response.read()
                return response.status

        async def healthz(session: aiohttp.ClientSession, _: int) -> int:
            async with session.get("/healthz") as response:
                await response.read()
                return response.status

        print(f"\n== {label} ==")
        baseline = load("GET /healthz (baseline)", base_url, token, healthz, requests, 8)
        print(baseline.line())
        print(
            load(f"POST /dbconnections/signup ({users})", base_url, token, signup, users, 4).line()
        )
        results: list[Figures] = []
        for concurrency in (1, 2, 4):
            figures = load(
                f"POST /oauth/token password, c={concurrency}",
                base_url,
                token,
                login,
                logins,
                concurrency,
            )
            results.append(figures)
            print(f"{figures.line()}  {figures.throughput / hashes:4.2f}x argon2 (2 threads)")
        userinfo_figures = load("GET /userinfo", base_url, token, userinfo, requests, 8)
        print(userinfo_figures.line(baseline))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--users", type=int, default=40)
    options.add_argument("--logins", type=int, default=80)
    options.add_argument("--requests", type=int, default=4_000)
    options.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    args = options.parse_args()
    one = argon2_verifications_per_second(1, 20)
    two = argon2_verifications_per_second(2, 40)
    defaults = Settings()
    print(
        f"argon2id t={defaults.argon2_time_cost} m={defaults.argon2_memory_cost_kib} KiB "
        f"p={defaults.argon2_parallelism}: {one:6.1f} verifications/s on 1 thread "
        f"({1000 / one:5.1f} ms each), {two:6.1f}/s on 2 threads"
    )
    bench_backend("SQLite (embedded default)", None, args.users, args.logins, args.requests, two)
    if args.postgres:
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            url = postgres.url(postgres.create_database())
            bench_backend("PostgreSQL", url, args.users, args.logins, args.requests, two)
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
