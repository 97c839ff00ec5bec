"""Search: query latency over a million users, rebuild speed, and live projection lag.

Run, one backend per run (each stays within about ten minutes on 2 cores):
    .venv/bin/python -m tests.benchmarks.bench_search --backend sqlite
    .venv/bin/python -m tests.benchmarks.bench_search --backend postgres
Options: --users N (read model size, default 1,000,000), --log-users N (event log for the
rebuild, default 40,000 users ≈ 150,000 events), --rate R and --seconds S (live writes).

1. Queries: the read model is seeded with N generated users (plans, roles arrays, nested
   address objects, preferences) through the projector's own row code and store, in large
   transactions with the secondary indexes built afterwards (the bulk path; a million users
   through the event store would not fit the time budget). Then each query shape runs with
   random parameters: translation, SQL, and the Auth0 user objects rendered as JSON, measured
   in-process (no HTTP). Baseline, same run, same data: each shape forced to a sequential scan
   (PostgreSQL with index scans disabled, SQLite with NOT INDEXED).
2. Rebuild: a real event log (creations, metadata patches, logins, deletions, interleaved),
   projected from position 0 by `metaledger rebuild`'s code. Baseline: reading and decoding
   the same log without projecting it.
3. Lag: `metaledger project` (which keeps the audit read model from the same reads) as its
   own process follows metadata patches written at R per second; lag runs from the write's
   commit to the read model reaching its position. Baseline: the write's own latency; and the
   projector's processor time per write, which the machine's other work hardly moves.
Everything shares the machine's two cores (and, for PostgreSQL, the server started here).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.application import batch_decoder
from metaledger.domain.profiles import DEFAULT_CONNECTION, UserProfiles, UserUpdate
from metaledger.domain.storage import StoreLocation
from metaledger.domain.user import User, format_timestamp
from metaledger.projections.search.conditions import predicate
from metaledger.projections.search.documents import UserRow, user_row
from metaledger.projections.search.fields import ROOT_FIELDS
from metaledger.projections.search.postgres import PostgresSearchStore
from metaledger.projections.search.projector import REBUILD_BATCH_SIZE, rebuild
from metaledger.projections.search.store import (
    BITMAPS_TABLE,
    METADATA_TABLE,
    USERS_TABLE,
    VALUES_TABLE,
    Batch,
    SearchRequest,
    SearchStore,
    Sort,
)
from tests.support import processes
from tests.support.postgres import PostgresServer

ACTOR = {"kind": "client", "id": "bench", "grant": "client-credentials"}
NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIRST_NAMES = [
    f"{n}{s}"
    for n in ("ann", "bob", "cai", "dan", "eve", "fay", "gus", "hal", "ida", "jo")
    for s in ("", "na", "die", "lyn", "ric", "ko", "sa", "ra", "vi", "te")
]
LAST_NAMES = [
    f"{p}{s}"
    for p in ("smi", "joh", "wil", "bro", "jon", "gar", "mil", "dav", "rod", "mar")
    for s in ("th", "nson", "ams", "wn", "es", "cia", "ler", "is", "riguez", "tin")
]
DOMAINS = ["gmail.com"] * 30 + ["yahoo.com"] * 10 + ["outlook.com"] * 10 + ["hotmail.com"] * 5
COMPANIES = [f"company{n}.com" for n in range(2000)]
PLANS = ["free"] * 60 + ["pro"] * 28 + ["enterprise"] * 8 + ["trial"] * 4
ROLES = ["viewer"] * 10 + ["editor"] * 5 + ["billing"] * 2 + ["support"] * 2 + ["admin", "auditor"]
CITIES = [f"City{n}" for n in range(300)] + ["Paris", "Lyon", "Berlin", "London", "Madrid"] * 20
COUNTRIES = ["FR", "DE", "GB", "ES", "IT", "US", "CA", "BR", "JP", "IN"]
LANGUAGES = ["en", "fr", "de", "es", "it", "pt", "ja", "hi", "nl", "sv"]
USERS_PER_TRANSACTION = 5000
QUERY_RUNS = 40
PER_PAGE = 50


# The population


def person(number: int, rnd: random.Random) -> User:
    """A user as a real tenant might hold one: profile, preferences, addresses, plan, roles."""
    first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
    domain = rnd.choice(DOMAINS) if rnd.random() < 0.55 else rnd.choice(COMPANIES)
    profile: dict[str, Any] = {
        "email": f"{first}.{last}{number}@{domain}",
        "email_verified": rnd.random() < 0.7,
        "name": f"{first.title()} {last.title()}",
        "given_name": first.title(),
        "family_name": last.title(),
        "nickname": f"{first}.{last}{number}",
    }
    if rnd.random() < 0.01:
        profile["blocked"] = True
    if rnd.random() < 0.3:
        profile["phone_number"] = f"+1555{number:07d}"
    if rnd.random() < 0.2:
        profile["username"] = f"{first}{number}"
    plan = rnd.choice(PLANS)
    app_metadata: dict[str, Any] = {
        "plan": plan,
        "roles": sorted(set(rnd.choices(ROLES, k=rnd.randint(1, 3)))),
        "seats": rnd.randint(50, 5000) if plan == "enterprise" else rnd.randint(1, 50),
        "customer_id": f"cus_{number:010d}",
        "features": {"sso": plan == "enterprise", "api": rnd.random() < 0.3},
    }
    if plan == "trial":
        app_metadata["trial_ends"] = (NOW + timedelta(days=rnd.randint(-30, 30))).date().isoformat()
    user_metadata = {
        "preferences": {
            "theme": rnd.choice(("dark", "light", "system")),
            "language": rnd.choice(LANGUAGES),
            "newsletter": rnd.random() < 0.4,
        },
        "addresses": [
            {
                "city": rnd.choice(CITIES),
                "country": rnd.choice(COUNTRIES),
                "zip": f"{rnd.randrange(10000, 99999)}",
            }
            for _ in range(rnd.choice((0, 1, 1, 1, 2, 2, 3)))
        ],
    }
    return User(
        user_id=f"auth0|{number:024x}",
        connection=DEFAULT_CONNECTION,
        profile=profile,
        user_metadata=user_metadata,
        app_metadata=app_metadata,
        actor=ACTOR,
    )


def aged(user: User, rnd: random.Random) -> User:
    """Spreads creation over three years and gives a long-tailed number of logins."""
    created = NOW - timedelta(seconds=rnd.uniform(0, 3 * 365 * 86400))
    user._created_on = created
    user._modified_on = created + (NOW - created) * rnd.random()
    logins = min(int(rnd.paretovariate(1.1)) - 1, 5000)
    if logins:
        user.logins_count = logins
        user.last_login = format_timestamp(user.modified_on)
        user.last_ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
    return user


# Figures


@dataclass(frozen=True)
class Latencies:
    name: str
    milliseconds: list[float]

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.milliseconds)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    met = value >= target if higher_is_better else value <= target
    return "meets" if met else "MISSES"


# 1. Queries over a seeded read model


def datastore(store: SearchStore) -> Any:
    return store.datastore  # type: ignore[attr-defined]


def generated_rows(start: int, stop: int) -> list[UserRow]:
    """Users `start` to `stop` as read-model rows; the same rows whichever process makes them."""
    rnd = random.Random(start)
    return [
        user_row(number + 1, aged(person(number, rnd), rnd), None) for number in range(start, stop)
    ]


def seed_read_model(store: SearchStore, users: int) -> None:
    """Rows from the projector's own code, written the way a rebuild writes them: one
    transaction, secondary indexes built at the end (the bulk path). A second process makes
    the rows while this one writes them."""
    started = time.perf_counter()
    chunks = [
        (start, min(start + USERS_PER_TRANSACTION, users))
        for start in range(0, users, USERS_PER_TRANSACTION)
    ]
    with ProcessPoolExecutor(max_workers=1) as maker, store.replacing(users) as write:
        ahead = deque(maker.submit(generated_rows, *chunk) for chunk in chunks[:2])
        for made, (_, stop) in enumerate(chunks):
            rows = ahead.popleft().result()
            if made + 2 < len(chunks):
                ahead.append(maker.submit(generated_rows, *chunks[made + 2]))
            write(Batch(position=0, upserts=rows))
            if stop % 100_000 == 0:
                print(f"  {stop:,} users", flush=True)
        loaded = time.perf_counter()
    if isinstance(store, PostgresSearchStore):
        # What autovacuum does in time: the visibility map that lets index-only scans skip rows.
        # And a checkpoint, so that writing the load out does not land in the measurements.
        with datastore(store).get_connection() as connection:
            for table in (USERS_TABLE, METADATA_TABLE, BITMAPS_TABLE, VALUES_TABLE):
                connection.execute(f"VACUUM ANALYZE {store.schema}.{table}")
            connection.execute("CHECKPOINT")
    print(
        f"  seeded {users:,} users: rows {loaded - started:.0f} s, "
        f"indexes and statistics {time.perf_counter() - loaded:.0f} s",
        flush=True,
    )


@dataclass(frozen=True)
class Shape:
    name: str
    query: Callable[[random.Random], str]
    sort: Sort | None = None
    pages: int = 1  # a random page among the first `pages`
    totals: bool = False

    def request(self, store: SearchStore, rnd: random.Random) -> SearchRequest:
        return SearchRequest(
            store.translator.translate(self.query(rnd)),
            self.sort,
            offset=rnd.randrange(self.pages) * PER_PAGE,
            limit=PER_PAGE,
            count_total=self.totals,
        )


def shapes(users: int) -> list[Shape]:
    last_login = Sort(ROOT_FIELDS["last_login"].column, True, True)
    return [
        Shape(
            "exact metadata value (1 user)",
            lambda r: f'app_metadata.customer_id:"cus_{r.randrange(users):010d}"',
        ),
        Shape("exact metadata value (8%)", lambda r: 'app_metadata.plan:"enterprise"'),
        Shape(
            "object inside an array", lambda r: f'user_metadata.addresses.city:"{r.choice(CITIES)}"'
        ),
        Shape(
            "range on logins_count",
            lambda r: f"logins_count:[{(lo := r.randrange(20, 400))} TO {lo + 50}]",
        ),
        Shape(
            "prefix on email", lambda r: f"email:{r.choice(FIRST_NAMES)}.{r.choice(LAST_NAMES)}1*"
        ),
        Shape("_exists_ (4%)", lambda r: "_exists_:app_metadata.trial_ends"),
        Shape(
            "boolean combination",
            lambda r: (
                f'app_metadata.plan:"{r.choice(("pro", "enterprise"))}" '
                "AND app_metadata.roles:admin AND NOT blocked:true"
            ),
        ),
        Shape(
            "sorted page (last_login desc)",
            lambda r: 'app_metadata.plan:"pro"',
            last_login,
            pages=10,
        ),
        Shape(
            "totals (plan AND theme)",
            lambda r: (
                f'app_metadata.plan:"{r.choice(("pro", "trial"))}" AND '
                f'user_metadata.preferences.theme:"{r.choice(("dark", "light"))}"'
            ),
            totals=True,
        ),
        Shape("totals, everyone", lambda r: "", pages=20, totals=True),
        Shape("user_id lookup", lambda r: f'user_id:"auth0|{r.randrange(users):024x}"'),
    ]


def render(found: list[Any], total: int | None) -> bytes:
    return orjson.dumps({"total": total, "users": [f.document() for f in found]})


def timed_search(store: SearchStore, shape: Shape, rnd: random.Random) -> float:
    started = time.perf_counter()
    result = store.search(shape.request(store, rnd))
    render(result.users, result.total)
    return (time.perf_counter() - started) * 1000


def timed_scan(store: SearchStore, shape: Shape, rnd: random.Random) -> float:
    """The same search, with every table read sequentially: PostgreSQL with index scans
    switched off; SQLite with each column reference made an expression (`+u.email`), which no
    index serves."""
    request = shape.request(store, rnd)
    tables = store.translator.tables
    where = predicate(request.condition, tables)
    order = request.sort.order_by() if request.sort else "u.key ASC"
    marker = store.translator.dialect.placeholder
    statements = [
        (
            f"SELECT u.key, u.aggregate_id, u.version, u.state FROM {tables.users} u "
            f"WHERE {where.text} ORDER BY {order} LIMIT {marker} OFFSET {marker}",
            (*where.params, request.limit, request.offset),
        )
    ]
    if request.count_total:
        statements.append(
            (f"SELECT count(*) FROM {tables.users} u WHERE {where.text}", where.params)
        )
    postgres = isinstance(store, PostgresSearchStore)
    started = time.perf_counter()
    with datastore(store).transaction(commit=False) as cursor:
        if postgres:
            for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                cursor.execute(f"SET LOCAL {setting} = off")
        for sql, params in statements:
            cursor.execute(sql if postgres else re.sub(r"\b([um])\.", r"+\1.", sql), params)
            cursor.fetchall()
    return (time.perf_counter() - started) * 1000


def bench_queries(
    store: SearchStore, users: int, rnd: random.Random
) -> list[tuple[Latencies, float]]:
    figures = []
    for shape in shapes(users):
        for _ in range(3):
            timed_search(store, shape, rnd)
        latencies = Latencies(
            shape.name, [timed_search(store, shape, rnd) for _ in range(QUERY_RUNS)]
        )
        scan = timed_scan(store, shape, rnd)
        figures.append((latencies, scan))
        print(
            f"  {shape.name:<34} p50 {latencies.percentile(0.5):7.1f} ms  "
            f"p95 {latencies.percentile(0.95):7.1f} ms   sequential scan {scan:8.0f} ms "
            f"({scan / latencies.percentile(0.5):,.0f}x the p50)",
            flush=True,
        )
    return figures


# 2. Rebuild from a real event log

USERS_PER_SAVE = 500


def write_log(profiles: UserProfiles, users: int, rnd: random.Random) -> list[str]:
    """Creations, then rounds of metadata patches and logins over the users in random order
    (so a user's events lie far apart, as they do in a real log), then a few deletions.
    Returns the ids of the users still live."""
    everyone = [person(number, rnd) for number in range(users)]
    for start in range(0, users, USERS_PER_SAVE):
        profiles.save(*everyone[start : start + USERS_PER_SAVE])

    def round_of(change: Callable[[User], None], share: float) -> None:
        chosen = [user for user in everyone if rnd.random() < share]
        rnd.shuffle(chosen)
        for start in range(0, len(chosen), USERS_PER_SAVE):
            chunk = chosen[start : start + USERS_PER_SAVE]
            for user in chunk:
                change(user)
            profiles.save(*chunk)

    round_of(lambda u: u.patch_app_metadata({"seats": rnd.randint(1, 50)}, ACTOR), 1.0)
    round_of(lambda u: u.record_login(f"10.0.{rnd.randrange(256)}.1", "bench", ACTOR), 0.6)
    round_of(
        lambda u: u.patch_user_metadata(
            {"preferences": {"theme": rnd.choice(("dark", "light"))}}, ACTOR
        ),
        0.8,
    )
    round_of(lambda u: u.record_login(f"10.1.{rnd.randrange(256)}.1", "bench", ACTOR), 0.6)
    round_of(lambda u: u.delete(ACTOR), 0.02)
    return [user.user_id for user in everyone if not user.deleted]


def read_and_decode(profiles: UserProfiles) -> int:
    """The baseline: every event read and decoded, as a projector must, and nothing written."""
    position, events = 0, 0
    while notifications := profiles.recorder.select_notifications(
        position, REBUILD_BATCH_SIZE, inclusive_of_start=False
    ):
        # The users' keys in one query per batch, as the projector fetches them.
        decode = batch_decoder(profiles.mapper, notifications)
        for notification in notifications:
            decode(notification)
        position = notifications[-1].id
        events += len(notifications)
    return events


def bench_rebuild(settings: Settings, profiles: UserProfiles, store: SearchStore) -> float:
    """`metaledger rebuild` as it runs by default: a process folding parts for every core."""
    started = time.perf_counter()
    events = read_and_decode(profiles)
    baseline = events / (time.perf_counter() - started)
    started = time.perf_counter()
    rebuilt = rebuild(
        profiles,
        store,
        open_application=functools.partial(build_profiles, settings, create_tables=False),
        processes=os.cpu_count() or 1,
    )
    rate = rebuilt / (time.perf_counter() - started)
    print(
        f"  rebuild from position 0: {rebuilt:,} events at {rate:,.0f} events/s "
        f"(reading and decoding alone: {baseline:,.0f} events/s, {rate / baseline:.2f}x)",
        flush=True,
    )
    return rate


# 3. Live projection lag


WRITERS = 8
# The read model each `metaledger project` keeps, by name: how to open it (picklable).
SEARCH_ONLY = {"search": stores.search_store}


def watch_positions(
    settings: Settings,
    ready: Any,
    stop: Any,
    reached: Any,
    openers: Mapping[str, Callable[[StoreLocation], Followed]],
) -> None:
    """In a process of its own, so that the writers' work does not delay what it sees: the
    moments (monotonic clock, shared by the machine's processes) each read model that
    `openers` open (module-level functions) reached each position."""
    watched = {name: opener(settings.store) for name, opener in openers.items()}
    seen: dict[str, list[tuple[float, int]]] = {name: [] for name in watched}
    last = dict.fromkeys(watched, 0)
    while not stop.is_set():
        for name, store in watched.items():
            position = store.position() or 0
            if position != last[name]:
                seen[name].append((time.monotonic(), position))
                last[name] = position
        if all(last.values()):
            ready.set()
        time.sleep(0.002)  # a query each time: finer would load the database it measures
    reached.put(seen)
    for store in watched.values():
        store.close()


class Followed(Protocol):
    """A read model that follows the event log: search, or audit."""

    def position(self) -> int | None: ...

    def close(self) -> None: ...


def bench_lag(
    settings: Settings,
    profiles: UserProfiles,
    live: list[str],
    rate: int,
    seconds: float,
    openers: Mapping[str, Callable[[StoreLocation], Followed]] = SEARCH_ONLY,
) -> dict[str, Latencies]:
    """Each read model's lag: from a write's commit to the read model reaching its position."""
    followed = [opener(settings.store) for opener in openers.values()]

    def behind(position: int) -> bool:
        return any((store.position() or 0) < position for store in followed)

    projector = processes.start(settings, "project", log=settings.data_dir / "project.log")
    spawn = multiprocessing.get_context("spawn")
    ready, stop, reached = spawn.Event(), spawn.Event(), spawn.Queue()
    watcher = spawn.Process(target=watch_positions, args=(settings, ready, stop, reached, openers))
    try:
        actor = Actor(kind="client", id="bench", grant="client-credentials")
        # A first write projected: the projector process is up and following (the rebuild
        # already recorded the log's end, so its position alone proves nothing).
        first = profiles.update_user(
            live[0], UserUpdate(buckets={"app_metadata": {"seats": -1}}), actor
        )
        while behind(first.position or 0):
            time.sleep(0.05)
        watcher.start()
        ready.wait(timeout=60)  # the watcher has seen the position the writes start from
        writes: list[tuple[float, int]] = []
        write_ms: list[float] = []
        count = int(rate * seconds)
        started = time.monotonic()
        cpu_before = cpu_seconds(projector.pid)

        def writer(first: int) -> None:
            chooser = random.Random(first)
            for number in range(first, count, WRITERS):
                delay = started + number / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent = time.monotonic()
                written = profiles.update_user(
                    chooser.choice(live),
                    UserUpdate(buckets={"app_metadata": {"seats": number}}),
                    actor,
                )
                committed = time.monotonic()
                write_ms.append((committed - sent) * 1000)
                writes.append((committed, written.position or 0))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        achieved = len(writes) / (time.monotonic() - started)
        last = max(position for _, position in writes)
        while behind(last):
            time.sleep(0.01)
        # The projector's processor time for the writes: unlike the lag, the machine's other
        # work hardly moves it.
        cpu_ms = (cpu_seconds(projector.pid) - cpu_before) * 1000 / len(writes)
        time.sleep(0.05)
        stop.set()
        seen: dict[str, list[tuple[float, int]]] = reached.get(timeout=30)
        watcher.join(timeout=30)
    finally:
        projector.terminate()
        projector.wait(timeout=30)
        for store in followed:
            store.close()
    writes_figures = Latencies("write", write_ms)
    print(
        f"  {achieved:,.0f} writes/s for {seconds:.0f} s (the write itself: "
        f"p50 {writes_figures.percentile(0.5):.1f} ms, "
        f"p99 {writes_figures.percentile(0.99):.1f} ms); the projector's CPU time "
        f"{cpu_ms:.2f} ms a write",
        flush=True,
    )
    lags = {}
    for name, moments in seen.items():
        figures = Latencies(f"{name} lag", _lags(writes, moments))
        print(
            f"  {figures.name:<12} p50 {figures.percentile(0.5):6.1f} ms  "
            f"p95 {figures.percentile(0.95):6.1f} ms  p99 {figures.percentile(0.99):6.1f} ms",
            flush=True,
        )
        lags[name] = figures
    return lags


def cpu_seconds(pid: int) -> float:
    """The processor time (user and system) process `pid` has used, from Linux's /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lags(writes: list[tuple[float, int]], seen: list[tuple[float, int]]) -> list[float]:
    """Milliseconds from each write's commit to the first moment its position was reached."""
    lags = []
    for committed, position in writes:
        at = next(at for at, reached_position in seen if reached_position >= position)
        lags.append(max(0.0, (at - committed) * 1000))
    return lags


def lag_arguments(parser: argparse.ArgumentParser, log_users: int, seconds: float) -> None:
    """The options of a benchmark that writes an event log and follows it live."""
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--log-users", type=int, default=log_users)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=seconds)


# The run


@contextmanager
def databases(backend: str) -> Iterator[Callable[[], str | None]]:
    """Yields a maker of fresh database URLs (None: SQLite files)."""
    if backend == "sqlite":
        yield lambda: None
        return
    server = PostgresServer()
    server.start()
    try:
        yield lambda: server.url(server.create_database())
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    lag_arguments(parser, log_users=40_000, seconds=20.0)
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    rnd = random.Random(20260601)
    targets = {"sqlite": 150.0, "postgres": 50.0}
    # The data (over 2 GB of it on SQLite) goes when the run ends.
    with (
        databases(args.backend) as database,
        tempfile.TemporaryDirectory(prefix="metaledger-bench-search-") as read_model_dir,
        tempfile.TemporaryDirectory(prefix="metaledger-bench-log-") as log_dir,
    ):
        print(f"search benchmark on {args.backend}", flush=True)
        print(f"1. queries over {args.users:,} users", flush=True)
        settings = Settings(data_dir=Path(read_model_dir), database_url=database())
        store = stores.search_store(settings.store)
        seed_read_model(store, args.users)
        queries = bench_queries(store, args.users, rnd)
        store.close()

        print(f"2. rebuild from an event log of {args.log_users:,} users", flush=True)
        settings = Settings(data_dir=Path(log_dir), database_url=database())
        profiles = build_profiles(settings)
        store = stores.search_store(settings.store)
        live = write_log(profiles, args.log_users, rnd)
        rebuild_rate = bench_rebuild(settings, profiles, store)

        print(f"3. live projection at {args.rate} writes/s", flush=True)
        lag = bench_lag(settings, profiles, live, args.rate, args.seconds)["search"]
        store.close()
        profiles.close()

    target = targets[args.backend]
    print(f"\nsummary ({args.backend}, {args.users:,} users)")
    for latencies, scan in queries:
        p95 = latencies.percentile(0.95)
        speedup = scan / latencies.percentile(0.5)
        print(
            f"  {latencies.name:<34} p95 {p95:7.1f} ms  {verdict(p95, target)} <= {target:.0f} ms"
            f"  ({speedup:,.0f}x faster than a scan at p50)"
        )
    print(
        f"  rebuild {rebuild_rate:,.0f} events/s  {verdict(rebuild_rate, 20_000, True)} >= 20,000"
    )
    print(
        f"  lag p99 {lag.percentile(0.99):.1f} ms  {verdict(lag.percentile(0.99), 100)} <= 100 ms"
    )


if __name__ == "__main__":
    main()
