"""Shared benchmark plumbing: a real `metaledger serve` process and a concurrent HTTP load."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
import httpx

from tests.support.oauth import client_credentials_token
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer

CLIENT_ID = "bench-admin"
CLIENT_SECRET = "bench-admin-secret-0123456789"


@dataclass(frozen=True)
class Figures:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self, baseline: Figures | None = None) -> str:
        ratio = f"  {self.throughput / baseline.throughput:5.2f}x baseline" if baseline else ""
        return (
            f"{self.name:<36} {self.throughput:8.0f} req/s  p50 {self.percentile(0.5):6.2f} ms"
            f"  p99 {self.percentile(0.99):6.2f} ms"
            f"  mean {statistics.fmean(self.latencies_ms):6.2f}"
            f" ms  errors {self.errors}{ratio}"
        )


@contextmanager
def serve(database_url: str | None, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Runs `metaledger serve` as its own process, on a data directory removed afterwards, and
    yields its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-") as data_dir:
        env = {
            **os.environ,
            "METALEDGER_PORT": str(port),
            "METALEDGER_DATA_DIR": data_dir,
            "METALEDGER_ADMIN_CLIENT_ID": CLIENT_ID,
            "METALEDGER_ADMIN_CLIENT_SECRET": CLIENT_SECRET,
            **(extra_env or {}),
        }
        if database_url:
            env["METALEDGER_DATABASE_URL"] = database_url
        process = subprocess.Popen(
            [sys.executable, "-m", "metaledger.api.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        with answering(process, f"{base_url}/readyz", "metaledger serve"):
            yield base_url


@contextmanager
def answering(process: subprocess.Popen[bytes], url: str, name: str) -> Iterator[None]:
    """Returns once `url` answers 200 (refusing a process that exits or takes over a minute),
    and stops the process on the way out."""
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} did not become ready")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def admin_token(base_url: str) -> str:
    return client_credentials_token(base_url, CLIENT_ID, CLIENT_SECRET, f"{base_url}/api/v2/")


Call = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def _load(base_url: str, token: str, call: Call, requests: int, concurrency: int) -> Figures:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers, connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for index in counter:
                started = time.perf_counter()
                status = await call(session, index)
                latencies.append((time.perf_counter() - started) * 1000)
                if status >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Figures("", requests, elapsed, latencies, errors)


def load(
    name: str, base_url: str, token: str, call: Call, requests: int, concurrency: int
) -> Figures:
    figures = asyncio.run(_load(base_url, token, call, requests, concurrency))
    return Figures(name, figures.requests, figures.seconds, figures.latencies_ms, figures.errors)


def merged(name: str, rounds: list[Figures]) -> Figures:
    """The figures of several rounds of one load, as one."""
    return Figures(
        name,
        sum(f.requests for f in rounds),
        sum(f.seconds for f in rounds),
        [latency for f in rounds for latency in f.latencies_ms],
        sum(f.errors for f in rounds),
    )


def rng(seed: int) -> random.Random:
    return random.Random(seed)


def on_backends(choice: str, bench: Callable[[str, str | None], None]) -> None:
    """Runs `bench(label, database_url)` on SQLite, on a durable PostgreSQL, or both (`choice`:
    sqlite, postgres or both)."""
    if choice in ("sqlite", "both"):
        bench("SQLite (embedded default)", None)
    if choice in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            bench("PostgreSQL (fsync on)", postgres.url(postgres.create_database()))
        finally:
            postgres.stop()
