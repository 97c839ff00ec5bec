"""Bulk import and export throughput, SQLite and PostgreSQL, against two baselines of the same
run: one POST /api/v2/users per user over HTTP, and a bare bulk INSERT of the same rows into an
empty table (the limit the storage sets).

Run: .venv/bin/python -m tests.benchmarks.bench_jobs [--users N] [--http-users N]
     [--backend sqlite|postgres|both] [--export-rounds N]

Every user has a bcrypt hash computed beforehand (one hash, as cost would otherwise dominate
the file's making) and five metadata keys. The import runs as a server's job runs it (the job
store, the domain's bulk path, its lines checked in worker processes), in this process; the
exports write gzipped newline-delimited JSON, once replaying the event log (what an `as_of`
export does) and once from the search read model (an export of the present, once the projector
has caught up: its catching up is timed apart, as a server's projector follows the log as it is
written), the two interleaved for a few rounds, each reported by its median round with its CPU
time.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import orjson
import psycopg

from metaledger.api import stores
from metaledger.api.bootstrap import build_jobs, build_profiles
from metaledger.api.jobs import REPLAY, ExportSource, run_export, run_import
from metaledger.api.settings import Settings
from metaledger.domain.imports import worker_pool
from metaledger.domain.jobs import EXPORT, IMPORT, Job, JobStore, new_job_id
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.projector import REBUILD_BATCH_SIZE, Projector
from tests.benchmarks.harness import admin_token, load, serve
from tests.support.postgres import PostgresServer
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
PLANS = ("free", "pro", "enterprise")
REPLAYED = "export replaying the log (as as_of does)"
FROM_READ_MODEL = "export from the search read model"


def users(count: int) -> list[dict[str, Any]]:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    return [
        {
            "email": f"user{n}@example.com",
            "user_id": f"bench{n:08d}",
            "password_hash": hashed,
            "user_metadata": {"theme": ("dark", "light")[n % 2], "lang": "en"},
            "app_metadata": {"plan": PLANS[n % 3], "roles": ["viewer"], "team": n % 97},
        }
        for n in range(count)
    ]


def line(name: str, count: int, seconds: float, baselines: dict[str, float]) -> str:
    rate = count / seconds
    ratios = "  ".join(f"{rate / base:6.2f}x {label}" for label, base in baselines.items())
    return f"{name:<40} {rate:10.0f} users/s  ({count} in {seconds:6.2f} s)  {ratios}"


def bare_insert(database_url: str | None, directory: Path, rows: list[dict[str, Any]]) -> float:
    """Seconds to insert the rows (id, email, JSON) into an empty table in one transaction."""
    values = [(row["user_id"], row["email"], orjson.dumps(row)) for row in rows]
    started = time.perf_counter()
    if database_url is None:
        lite = sqlite3.connect(directory / "bare.sqlite3")
        lite.execute("PRAGMA journal_mode=WAL")
        lite.execute("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, body BLOB)")
        with lite:
            lite.executemany("INSERT INTO users VALUES (?, ?, ?)", values)
        lite.close()
    else:
        with psycopg.connect(database_url) as connection:
            connection.execute(
                "CREATE TABLE bare_users (id text PRIMARY KEY, email text, body bytea)"
            )
            with connection.cursor() as cursor, cursor.copy("COPY bare_users FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
    return time.perf_counter() - started


def http_creates(database_url: str | None, count: int) -> float:
    """Creates per second with one POST /api/v2/users per user (16 clients)."""
    cheap_hashes = {"METALEDGER_ARGON2_TIME_COST": "1", "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024"}
    with serve(database_url, cheap_hashes) as base_url:

        async def create(session: aiohttp.ClientSession, index: int) -> int:
            body = {
                "connection": CONNECTION,
                "password": PASSWORD,
                "email": f"http{index}@example.com",
                "user_metadata": {"theme": "dark", "lang": "en"},
                "app_metadata": {"plan": "pro", "roles": ["viewer"], "team": index % 97},
            }
            async with session.post("/api/v2/users", json=body) as response:
                await response.read()
                return response.status

        figures = load("POST /users", base_url, admin_token(base_url), create, count, 16)
    return figures.throughput


def bench_backend(
    label: str, database_url: str | None, count: int, http_count: int, rounds: int
) -> None:
    print(f"\n== {label}, {count} users ==")
    rows = users(count)
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-jobs-") as directory:
        data = Path(directory)
        bare = count / bare_insert(database_url, data, rows)
        http = http_creates(database_url, http_count)
        baselines = {"HTTP": http, "bare INSERT": bare}
        print(line("POST /api/v2/users, one per user (HTTP)", http_count, http_count / http, {}))
        print(line("bare bulk INSERT of the same rows", count, count / bare, {}))

        settings = Settings(data_dir=data / "store", database_url=database_url)
        profiles = build_profiles(settings)
        jobs = build_jobs(settings, profiles)
        source = data / "users.json"
        source.write_bytes(orjson.dumps(rows))
        job = Job(new_job_id(), IMPORT, CONNECTION, time.time(), {"lines": count})
        jobs.store.add(job)
        # As in a server that has run an import before: its worker processes are up (the
        # first import of a process waits for them to start, about a second here).
        list(worker_pool(os.cpu_count() or 1).map(abs, range(64)))
        started = time.perf_counter()
        run_import(profiles, jobs.store, job, source)
        print(line("import (bulk job)", count, time.perf_counter() - started, baselines))

        search = stores.search_store(settings.store)
        started = time.perf_counter()
        events = Projector(profiles, search, REBUILD_BATCH_SIZE).catch_up()
        print(line("  the search projector catching up", events, time.perf_counter() - started, {}))
        sources = {REPLAYED: REPLAY, FROM_READ_MODEL: ExportSource(search, 0)}
        timings: dict[str, list[Timing]] = {name: [] for name in sources}
        for _ in range(rounds):  # interleaved: both sources see the same load
            for name, export_source in sources.items():
                timings[name].append(timed_export(profiles, jobs.store, data, export_source))
        medians = {
            name: sorted(runs, key=lambda t: t.wall)[len(runs) // 2]
            for name, runs in timings.items()
        }
        for name, median in medians.items():
            cpu_rate = median.written / median.cpu
            print(
                f"{line(name, median.written, median.wall, baselines)}  {cpu_rate:8.0f} users/CPU-s"
            )
        replayed, read = medians[REPLAYED], medians[FROM_READ_MODEL]
        print(
            f"  read model / replay (medians of {rounds}): {replayed.wall / read.wall:.2f}x wall, "
            f"{replayed.cpu / read.cpu:.2f}x CPU"
        )
        search.close()
        profiles.close()


@dataclass(frozen=True)
class Timing:
    written: int
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU time: steadier than the wall on a busy machine


def timed_export(
    profiles: UserProfiles, store: JobStore, directory: Path, source: ExportSource
) -> Timing:
    """An export job of gzipped JSON lines: how many users it wrote, and in how long."""
    export = Job(new_job_id(), EXPORT, CONNECTION, time.time(), {"format": "json"})
    store.add(export)
    started, cpu = time.perf_counter(), time.process_time()
    written = run_export(profiles, store, export, directory / "export.json.gz", source=source)
    return Timing(written, time.perf_counter() - started, time.process_time() - cpu)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--users", type=int, default=1_000_000)
    options.add_argument("--http-users", type=int, default=5_000)
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    options.add_argument("--export-rounds", type=int, default=3)
    args = options.parse_args()
    if args.backend in ("sqlite", "both"):
        bench_backend(
            "SQLite (embedded default)", None, args.users, args.http_users, args.export_rounds
        )
    if args.backend in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            url = postgres.url(postgres.create_database())
            bench_backend(
                "PostgreSQL (fsync on)", url, args.users, args.http_users, args.export_rounds
            )
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
