"""What a stored application costs at the token endpoint: client-credentials tokens per second for
an application created through /api/v2/clients (read from the store on each request) against
one METALEDGER_APPLICATIONS configures (in memory), interleaved in the same run; and the list of
applications with many stored.

Run: .venv/bin/python -m tests.benchmarks.bench_clients [--backend sqlite|postgres|both]
     [--requests N] [--rounds N] [--applications N]

The server is a real `metaledger serve` process; the load comes from this process on the same
machine. GET /healthz is the cost of the HTTP stack alone.
"""

from __future__ import annotations

import argparse
import json

import aiohttp
import httpx

from tests.benchmarks.harness import (
    Call,
    Figures,
    admin_token,
    load,
    merged,
    on_backends,
    serve,
)

CONFIGURED_ID = "bench-configured"
CONFIGURED_SECRET = "bench-configured-secret-0123456789"
CONCURRENCY = 4


def token_call(client_id: str, secret: str) -> Call:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}

    async def call(session: aiohttp.ClientSession, _: int) -> int:
        async with session.post("/oauth/token", data=form) as response:
            await response.read()
            return response.status

    return call


async def healthz(session: aiohttp.ClientSession, _: int) -> int:
    async with session.get("/healthz") as response:
        await response.read()
        return response.status


async def list_clients(session: aiohttp.ClientSession, _: int) -> int:
    async with session.get("/api/v2/clients", params={"per_page": "100"}) as response:
        await response.read()
        return response.status


def bench_backend(
    label: str, database_url: str | None, requests: int, rounds: int, applications: int
) -> None:
    configured = [
        {
            "client_id": CONFIGURED_ID,
            "client_secret": CONFIGURED_SECRET,
            "grant_types": ["client_credentials"],
        }
    ]
    extra = {"METALEDGER_APPLICATIONS": json.dumps(configured)}
    with serve(database_url, extra) as base_url:
        token = admin_token(base_url)
        headers = {"Authorization": f"Bearer {token}"}
        stored: dict[str, str] = {}
        for index in range(applications):
            stored = httpx.post(
                f"{base_url}/api/v2/clients",
                headers=headers,
                json={"name": f"bench {index}", "app_type": "non_interactive"},
            ).json()
        print(f"\n== {label}: {applications} stored applications ==")
        calls = {
            "GET /healthz (baseline)": healthz,
            "token, configured application": token_call(CONFIGURED_ID, CONFIGURED_SECRET),
            "token, stored application": token_call(stored["client_id"], stored["client_secret"]),
        }
        totals: dict[str, list[Figures]] = {name: [] for name in calls}
        for _ in range(rounds):  # interleaved, so load from the other engineers hits all alike
            for name, call in calls.items():
                totals[name].append(load(name, base_url, token, call, requests, CONCURRENCY))
        merged_figures = {name: merged(name, figures) for name, figures in totals.items()}
        baseline = merged_figures["GET /healthz (baseline)"]
        print(baseline.line())
        configured_figures = merged_figures["token, configured application"]
        print(configured_figures.line(baseline))
        stored_figures = merged_figures["token, stored application"]
        ratio = stored_figures.throughput / configured_figures.throughput
        print(f"{stored_figures.line(baseline)}  {ratio:4.2f}x configured")
        listed = load("GET /api/v2/clients per_page=100", base_url, token, list_clients, 200, 4)
        print(listed.line(baseline))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    options.add_argument("--requests", type=int, default=1_000)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--applications", type=int, default=200)
    args = options.parse_args()
    on_backends(
        args.backend,
        lambda label, url: bench_backend(label, url, args.requests, args.rounds, args.applications),
    )


if __name__ == "__main__":
    main()
