"""Time travel on a user with 10,000 events, and a change-feed export of 1,000,000 events.

Run: .venv/bin/python -m tests.benchmarks.bench_history [--history N] [--events N] [--reads N]
     [--backend sqlite|postgres|both]

Targets (issue 5): an `as_of` read of a user with 10,000 events has p95 <= 20 ms; the feed
exports >= 50,000 events/s. Reads go to a real `metaledger serve` process over HTTP, one at a
time (latency), from a client on the same 2-core machine; the same reads are also timed
in-process, without HTTP. Baselines, measured in the same run: GET of the same user's current
state (time travel vs. a plain read), and the raw notification log read without decoding
(the feed vs. reading bytes). The events are sealed like any others (per-user keys), and the
store is seeded in-process with many users per transaction.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import orjson

from metaledger.api.bootstrap import build_profiles
from metaledger.api.cli.serve import collect_cycles_rarely
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.feed import ChangeFeed
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles
from metaledger.domain.time_travel import user_as_of
from metaledger.domain.user import User
from tests.benchmarks.harness import admin_token, serve
from tests.support.postgres import PostgresServer

ACTOR = Actor("client", "bench", "client-credentials", "bench-request", "127.0.0.1")
EVENTS_PER_USER = 10
USERS_PER_SAVE = 200
PATCHES_PER_SAVE = 50
FEED_PAGE = 10_000


def at(latencies_ms: list[float], fraction: float) -> float:
    ordered = sorted(latencies_ms)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def percentiles(latencies_ms: list[float]) -> str:
    return (
        f"p50 {at(latencies_ms, 0.5):6.2f} ms  p95 {at(latencies_ms, 0.95):6.2f} ms"
        f"  p99 {at(latencies_ms, 0.99):6.2f} ms  mean {statistics.fmean(latencies_ms):6.2f} ms"
    )


def timed(calls: int, call: Callable[[int], object]) -> list[float]:
    latencies = []
    for index in range(calls):
        started = time.perf_counter()
        call(index)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def new_user(number: int) -> User:
    return User(
        user_id=f"auth0|bench{number:012d}",
        connection=DEFAULT_CONNECTION,
        profile={"email": f"user{number}@example.com", "name": f"User {number}"},
        user_metadata={"theme": "dark", "locale": "en"},
        app_metadata={"plan": "free", "roles": ["viewer"]},
        actor=ACTOR.as_dict(),
    )


def seed_long_history(profiles: UserProfiles, events: int) -> str:
    """One user with `events` events, saved PATCHES_PER_SAVE at a time (snapshots every 50)."""
    user = new_user(0)
    version = 1
    while version < events:
        for _ in range(min(PATCHES_PER_SAVE, events - version)):
            version += 1
            user.patch_app_metadata(
                {"counter": version, "plan": ("free", "pro")[version % 2]}, ACTOR.as_dict()
            )
        profiles.save(user)
    return user.user_id


def seed_users(profiles: UserProfiles, count: int) -> None:
    """`count` users of EVENTS_PER_USER events each, USERS_PER_SAVE per transaction."""
    for first in range(1, count + 1, USERS_PER_SAVE):
        users = []
        for number in range(first, min(first + USERS_PER_SAVE, count + 1)):
            user = new_user(number)
            for step in range(EVENTS_PER_USER - 1):
                user.patch_user_metadata(
                    {"step": step, "theme": ("dark", "light")[step % 2]}, ACTOR.as_dict()
                )
            users.append(user)
        profiles.save(*users)


def bench_as_of(profiles: UserProfiles, base_url: str, user_id: str, reads: int) -> None:
    entries = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 100_000).entries
    moments = [entry.timestamp for entry in entries]
    chooser = random.Random(11)
    picks = [chooser.choice(moments) for _ in range(reads)]
    latest = len(moments)
    in_process = timed(reads, lambda i: user_as_of(profiles, user_id, picks[i]))
    print(f"  as_of in-process ({latest} events)     {percentiles(in_process)}")
    headers = {"Authorization": f"Bearer {admin_token(base_url)}"}
    with httpx.Client(base_url=base_url, headers=headers) as http:
        path = f"/api/v2/users/{user_id}"
        http.get(path, params={"version": 1})  # warm the connection

        def plain(_: int) -> None:
            http.get(path).raise_for_status()

        def as_of(index: int) -> None:
            http.get(path, params={"as_of": picks[index].isoformat()}).raise_for_status()

        current = timed(reads, plain)
        travelled = timed(reads, as_of)
    print(f"  GET current state (baseline)      {percentiles(current)}")
    ratio = at(travelled, 0.95) / at(current, 0.95)
    print(
        f"  GET ?as_of= ({latest} events)      {percentiles(travelled)}  p95 {ratio:4.2f}x baseline"
    )


def bench_feed(profiles: UserProfiles, base_url: str, data_dir: Path, events: int) -> None:
    recorder = profiles.recorder
    started = time.perf_counter()
    position, raw = 0, 0
    while True:
        notifications = recorder.select_notifications(position, FEED_PAGE, inclusive_of_start=False)
        if not notifications:
            break
        raw += len(notifications)
        position = notifications[-1].id
    raw_rate = raw / (time.perf_counter() - started)
    print(f"  raw notification read (baseline)  {raw_rate:9.0f} events/s  ({raw} events)")

    feed = ChangeFeed(profiles)
    started = time.perf_counter()
    position, decoded = 0, 0
    while True:
        page = feed.read(position, FEED_PAGE)
        if not page.items:
            break
        decoded += len(page.items)
        position = page.next
    rate = decoded / (time.perf_counter() - started)
    print(
        f"  feed in-process (decrypt, render) {rate:9.0f} events/s"
        f"  {rate / raw_rate:5.2f}x baseline"
    )

    token = admin_token(base_url)
    for label, parse in (("export to a file", False), ("export, each page parsed", True)):
        rate, exported, size = http_export(base_url, token, data_dir, parse)
        print(
            f"  GET /api/v2/events {label:<25} {rate:9.0f} events/s  {rate / raw_rate:5.2f}x"
            f" baseline  ({exported} events, {size / 1e6:.0f} MB JSON)"
        )
        assert exported == decoded == raw == events, (exported, decoded, raw, events)


def http_export(base_url: str, token: str, data_dir: Path, parse: bool) -> tuple[float, int, int]:
    """Pages of FEED_PAGE events, each requested (by its X-Metaledger-Next) before the previous
    one is handled: written to a file as received, or parsed. A file export is counted once
    the clock has stopped. Returns (events/s, events, bytes)."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=120) as http,
        ThreadPoolExecutor(1) as ahead,
        (data_dir / "export.jsonl").open("wb") as export,
    ):

        def page_after(position: int) -> httpx.Response:
            response = http.get("/api/v2/events", params={"from": position, "take": FEED_PAGE})
            response.raise_for_status()
            return response

        started = time.perf_counter()
        parsed, size = 0, 0
        pending = ahead.submit(page_after, 0)
        while True:
            response = pending.result()
            if response.headers["x-metaledger-next"] == response.request.url.params["from"]:
                break  # nothing after the position asked for: the end of the log
            pending = ahead.submit(page_after, int(response.headers["x-metaledger-next"]))
            size += len(response.content)
            if parse:
                parsed += len(orjson.loads(response.content)["events"])
            else:
                export.write(response.content + b"\n")
        seconds = time.perf_counter() - started
    if not parse:
        with (data_dir / "export.jsonl").open("rb") as lines:
            parsed = sum(len(orjson.loads(line)["events"]) for line in lines)
    return parsed / seconds, parsed, size


def bench_backend(
    label: str, database_url: str | None, history: int, events: int, reads: int
) -> None:
    print(f"\n== {label} ==")
    # The store holds about 650 MB after a full run: removed when the run ends.
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-history-") as directory:
        data_dir = Path(directory)
        profiles = build_profiles(Settings(data_dir=data_dir, database_url=database_url))
        started = time.perf_counter()
        user_id = seed_long_history(profiles, history)
        print(f"  seeded 1 user with {history} events in {time.perf_counter() - started:.1f} s")
        users = (events - history) // EVENTS_PER_USER
        started = time.perf_counter()
        seed_users(profiles, users)
        seconds = time.perf_counter() - started
        more = users * EVENTS_PER_USER
        print(
            f"  seeded {users} users, {more} events, in {seconds:.1f} s"
            f" ({more / seconds:.0f} events/s)"
        )
        env = {"METALEDGER_DATA_DIR": str(data_dir), "METALEDGER_EMBEDDED_WORKERS": "false"}
        with serve(database_url, env) as base_url:
            bench_as_of(profiles, base_url, user_id, reads)
            bench_feed(profiles, base_url, data_dir, history + more)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--history", type=int, default=10_000, help="events of the long user")
    options.add_argument("--events", type=int, default=1_000_000, help="events in the store")
    options.add_argument("--reads", type=int, default=1_000, help="as_of reads to time")
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = options.parse_args()
    # The client parses pages of 10,000 events: it collects cycles as `metaledger serve` does.
    collect_cycles_rarely()
    print(f"history benchmark, started {datetime.now():%Y-%m-%d %H:%M}")
    if args.backend in ("sqlite", "both"):
        bench_backend("SQLite (embedded default)", None, args.history, args.events, args.reads)
    if args.backend in ("postgres", "both"):
        postgres = PostgresServer(durable=True)
        postgres.start()
        try:
            url = postgres.url(postgres.create_database())
            bench_backend("PostgreSQL (fsync on)", url, args.history, args.events, args.reads)
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
