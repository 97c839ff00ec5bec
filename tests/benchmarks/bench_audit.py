"""Audit: the two auditor's queries over a large audit read model, and live projection lag.

Run, one backend per run:
    .venv/bin/python -m tests.benchmarks.bench_audit --backend sqlite
    .venv/bin/python -m tests.benchmarks.bench_audit --backend postgres
Options: --changes N and --users U (read model size; default 200,000 changes of 20,000 users,
the issue's size is --changes 10000000 --users 1000000), --log-users N (the event log of the
baseline and the lag, default 5,000 users), --rate R and --seconds S (live writes).

1. Queries: the read model is seeded with N generated key changes (roles, plans, seats,
   preferences, emails; one to three keys an event, a year of events, a few actors and
   clients) and their log records, plus one failed login (`f`) for every ten events from a
   pool of addresses, written by the store's own rebuild writer in large transactions (the
   bulk path: ten million changes through the event store would not fit the time budget).
   Measured in-process (no HTTP): `audit/changes?key=app_metadata.roles&to=admin` over a
   random quarter (the newest 100), and `logs?q=type:f AND ip:"…"` (a page of 50).
2. Baseline, same run: a real event log (bench_search's: creations with roles, patches,
   logins, deletions) projected live, then each question answered twice on it: by the audit
   read model, and by a sequential scan of the event log (every event read, decoded and
   folded, as one would without the read model).
3. Lag: `metaledger project` (search and audit projectors, fed from one read of each batch)
   as its own process follows metadata patches written through the domain at R per second by
   8 threads; lag runs from the write's commit to each read model (search, audit) reaching its
   position, p50/p95/p99 per read model, and the projector's processor time per write.
   Baselines, same run: the write's own latency, and the sequential scan of the event log of
   part 2 (what answering without a read model costs).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid5

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.application import batch_decoder
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.storage import StoreLocation
from metaledger.domain.timeline import entry_for
from metaledger.domain.user import USER_NAMESPACE, User, format_timestamp
from metaledger.projections.audit.projector import REBUILD_BATCH_SIZE, AuditProjector
from metaledger.projections.audit.records import (
    FAILED_LOGIN,
    FROM_API,
    FROM_EVENT,
    SUCCESS_API,
    AuditUser,
    ChangeRow,
    LogRecord,
    log_id,
    micros,
)
from metaledger.projections.audit.store import AuditBatch, AuditStore, ChangeQuery, LogQuery
from tests.benchmarks.bench_search import (
    Followed,
    Latencies,
    bench_lag,
    databases,
    lag_arguments,
    verdict,
    write_log,
)

START = datetime(2025, 6, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
QUARTER = timedelta(days=91)
EVENTS_PER_BATCH = 20_000
ADDRESSES = 5_000
RUNS = 60
ROLES = ["viewer", "editor", "billing", "support", "auditor"]
KEYS = (
    ["app_metadata.roles"] * 15
    + ["app_metadata.plan"] * 25
    + ["app_metadata.seats"] * 15
    + ["user_metadata.theme"] * 20
    + ["user_metadata.hobby"] * 20
    + ["email"] * 5
)
ACTORS = [("client", f"service-{n}") for n in range(8)] + [("user", "")] * 4
# Both read models `metaledger project` keeps, watched for the lag.
FOLLOWERS: dict[str, Callable[[StoreLocation], Followed]] = {
    "search": stores.search_store,
    "audit": stores.audit_store,
}


# 1. Queries over a seeded read model


def seed(store: AuditStore, changes: int, users: int) -> int:
    """About `changes` change rows of `users` users and their records; returns the events."""
    rnd = random.Random(18)
    events = changes // 2
    step = YEAR / events
    with store.replacing(events) as writer:
        for first in range(0, events, EVENTS_PER_BATCH):
            batch = AuditBatch(position=0)
            for number in range(first, min(first + EVENTS_PER_BATCH, events)):
                _event(batch, number, START + number * step, rnd, users)
            writer.write(batch)
            print(f"  seeded {min(first + EVENTS_PER_BATCH, events):,} events", end="\r")
    print()
    return events


def _event(
    batch: AuditBatch, number: int, moment: datetime, rnd: random.Random, users: int
) -> None:
    position = number + 1
    user = rnd.randrange(users)
    user_id = f"auth0|{user:024x}"
    aggregate_id = uuid5(USER_NAMESPACE, user_id)
    kind, actor_id = rnd.choice(ACTORS)
    actor_id = actor_id or user_id
    client_id = actor_id if kind == "client" else None
    keys = rnd.sample(KEYS, rnd.choice((1, 2, 2, 3)))
    diff = {key: _values(key, rnd) for key in dict.fromkeys(keys)}
    for seq, (key, (old, new)) in enumerate(sorted(diff.items())):
        batch.changes.append(
            ChangeRow(
                position,
                seq,
                aggregate_id,
                user_id,
                key,
                old,
                new,
                "AppMetadataPatched",
                2,
                micros(moment),
                kind,
                actor_id,
                client_id,
                f"req-{position}",
                "10.0.0.1",
            )
        )
    batch.records.append(
        LogRecord(
            log_id=log_id(moment, FROM_EVENT, position),
            date=format_timestamp(moment),
            type=SUCCESS_API,
            description="Update a User",
            user_id=user_id,
            user_name=f"user{user}@example.com",
            client_id=client_id,
            ip="10.0.0.1",
            details={"changes": {k: {"old": o, "new": n} for k, (o, n) in diff.items()}},
            position=position,
            aggregate_id=aggregate_id,
            version=2,
        )
    )
    batch.users[aggregate_id] = AuditUser(user_id, f"user{user}@example.com", None)
    if number % 10 == 0:
        batch.records.append(
            LogRecord(
                log_id=log_id(moment, FROM_API, number),
                date=format_timestamp(moment),
                type=FAILED_LOGIN,
                description="Wrong email or password.",
                user_name=f"user{rnd.randrange(users)}@example.com",
                ip=_address(rnd.randrange(ADDRESSES)),
            )
        )


def _values(key: str, rnd: random.Random) -> tuple[object, object]:
    if key == "app_metadata.roles":
        old = rnd.sample(ROLES, rnd.randrange(3))
        granted = rnd.random() < 0.02
        return old, [*old, "admin"] if granted else rnd.sample(ROLES, rnd.randrange(3))
    if key == "app_metadata.plan":
        return rnd.choice(["free", "pro", None]), rnd.choice(["free", "pro", "enterprise"])
    if key == "app_metadata.seats":
        return rnd.randrange(50), rnd.randrange(50)
    if key == "email":
        return f"old{rnd.randrange(10**6)}@example.com", f"new{rnd.randrange(10**6)}@example.com"
    return rnd.choice(["dark", "light", "chess"]), rnd.choice(["dark", "light", "sailing"])


def _address(number: int) -> str:
    return f"198.{51 + number // 65536}.{number // 256 % 256}.{number % 256}"


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def granted_admin(store: AuditStore, since: datetime) -> Callable[[], object]:
    query = ChangeQuery(
        key="app_metadata.roles",
        to="admin",
        since=micros(since),
        until=micros(since + QUARTER),
        take=100,
    )
    return lambda: [change.as_dict() for change in store.changes(query).changes]


def failed_from(store: AuditStore, address: str) -> Callable[[], object]:
    where = store.translator.predicate(f'type:f AND ip:"{address}"')
    return lambda: [record.as_auth0() for record in store.logs(LogQuery(where)).records]


def bench_queries(store: AuditStore, rnd: random.Random) -> tuple[Latencies, Latencies]:
    admin = [
        timed(granted_admin(store, START + rnd.random() * (YEAR - QUARTER))) for _ in range(RUNS)
    ]
    failed = [timed(failed_from(store, _address(rnd.randrange(ADDRESSES)))) for _ in range(RUNS)]
    figures = (
        Latencies("changes key=roles to=admin, a quarter", admin),
        Latencies('logs q=type:f AND ip:"…"', failed),
    )
    for latencies in figures:
        print(
            f"  {latencies.name:<40} p50 {latencies.percentile(0.5):7.2f} ms"
            f"  p95 {latencies.percentile(0.95):7.2f} ms",
            flush=True,
        )
    return figures


# 2. The same questions by a sequential scan of the event log


def scan_for_grants(profiles: UserProfiles) -> int:
    """Who was given admin: every event read, decoded and folded."""
    position, found = 0, 0
    while notifications := profiles.recorder.select_notifications(
        position, REBUILD_BATCH_SIZE, inclusive_of_start=False
    ):
        decode = batch_decoder(profiles.mapper, notifications)
        for notification in notifications:
            event = decode(notification)
            if isinstance(event, User.Event):
                change = (entry_for(event).changes or {}).get("app_metadata.roles")
                if (
                    change
                    and "admin" in (change["new"] or [])
                    and "admin" not in (change["old"] or [])
                ):
                    found += 1
        position = notifications[-1].id
    return found


def scan_for_logins(profiles: UserProfiles, address: str) -> int:
    position, found = 0, 0
    while notifications := profiles.recorder.select_notifications(
        position, REBUILD_BATCH_SIZE, inclusive_of_start=False, topics=[User.UserLoggedIn.TOPIC]
    ):
        decode = batch_decoder(profiles.mapper, notifications)
        found += sum(vars(decode(n)).get("ip") == address for n in notifications)
        position = notifications[-1].id
    return found


def bench_baseline(profiles: UserProfiles, store: AuditStore) -> list[tuple[str, float, float]]:
    """(question, read model p50 ms, scan ms) on the same event log."""
    started = time.perf_counter()
    events = AuditProjector(profiles, store, batch_size=REBUILD_BATCH_SIZE).catch_up()
    rate = events / (time.perf_counter() - started)
    print(f"  projected {events:,} events live at {rate:,.0f} events/s", flush=True)
    since = datetime.now(UTC) - QUARTER
    pairs = [
        (
            "who was given admin (a quarter)",
            granted_admin(store, since),
            lambda: scan_for_grants(profiles),
        ),
        (
            "logins from one address",
            lambda: store.logs(LogQuery(store.translator.predicate('type:s AND ip:"10.0.7.1"'))),
            lambda: scan_for_logins(profiles, "10.0.7.1"),
        ),
    ]
    results = []
    for name, indexed, scan in pairs:
        read_model = sorted(timed(indexed) for _ in range(RUNS))[RUNS // 2]
        scanned = sorted(timed(scan) for _ in range(3))[1]
        print(
            f"  {name:<34} read model p50 {read_model:7.2f} ms  event-log scan {scanned:9.1f} ms"
            f"  ({scanned / read_model:,.0f}x)",
            flush=True,
        )
        results.append((name, read_model, scanned))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    lag_arguments(parser, log_users=5_000, seconds=10.0)
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()
    rnd = random.Random(20261205)
    target = {"sqlite": 150.0, "postgres": 50.0}[args.backend]
    with (
        databases(args.backend) as database,
        tempfile.TemporaryDirectory(prefix="metaledger-bench-audit-") as read_model_dir,
        tempfile.TemporaryDirectory(prefix="metaledger-bench-audit-log-") as log_dir,
    ):
        print(f"audit benchmark on {args.backend}", flush=True)
        print(f"1. queries over {args.changes:,} changes of {args.users:,} users", flush=True)
        settings = Settings(data_dir=Path(read_model_dir), database_url=database())
        store = stores.audit_store(settings.store)
        started = time.perf_counter()
        events = seed(store, args.changes, args.users)
        print(f"  seeded {events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
        queries = bench_queries(store, rnd)
        store.close()

        print(f"2. the same questions on an event log of {args.log_users:,} users", flush=True)
        settings = Settings(data_dir=Path(log_dir), database_url=database())
        profiles = build_profiles(settings)
        store = stores.audit_store(settings.store)
        live = write_log(profiles, args.log_users, rnd)
        baseline = bench_baseline(profiles, store)

        print(f"3. live projection at {args.rate} writes/s (search and audit)", flush=True)
        lag = bench_lag(settings, profiles, live, args.rate, args.seconds, FOLLOWERS)
        scan = max(scanned for _, _, scanned in baseline)
        print(
            f"  baseline, same run: a sequential scan of the event log answers in {scan:.0f} ms"
            " (no lag, that cost on every question)",
            flush=True,
        )
        store.close()
        profiles.close()

    print(f"\nsummary ({args.backend}, {args.changes:,} changes)")
    for latencies in queries:
        p95 = latencies.percentile(0.95)
        print(
            f"  {latencies.name:<40} p95 {p95:7.1f} ms  {verdict(p95, target)} <= {target:.0f} ms"
        )
    for name, read_model, scanned in baseline:
        print(f"  {name:<40} {scanned / read_model:,.0f}x faster than scanning the event log")
    for name, latencies in lag.items():
        p99 = latencies.percentile(0.99)
        print(f"  {name} lag p99 {p99:.1f} ms  {verdict(p99, 100)} <= 100 ms")


if __name__ == "__main__":
    main()
