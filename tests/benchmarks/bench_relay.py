"""The change stream: relay throughput from a backlog, and write → consumer latency.

Run: .venv/bin/python -m tests.benchmarks.bench_relay [--users N] [--rate R] [--seconds S]

1. Backlog: N users with 10 events each (200,000 events by default) in the SQLite event store,
   published by `metaledger relay` (a process of its own, producing in a child process) to a
   real broker (the test suite's KafkaBroker, started here), timed from its first recorded
   position to the last.
   Baselines, measured in the same run: the bare kafka-python producer sending as many messages
   of the same size (idempotent, acks=all) with nothing to read, decrypt or fold; and the relay's
   own work (read, decrypt, fold, serialise) with nothing sent.
2. Latency: a real `metaledger serve` process with the relay embedded, PATCHes of app_metadata
   paced at R per second, and the entitlements consumer in a process of its own; latency runs
   from the moment a request is sent to the moment the consumer's handler has committed its
   effects (and, split out, from the moment the event was stored). Baseline: the HTTP round
   trip of the same PATCH.
Everything shares the machine's cores: the broker, the server, the load and the consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import cast

import aiohttp
import orjson
from kafka import KafkaProducer

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.consumers.messages import ChangeEvent
from metaledger.consumers.runner import ConsumerConfig, ConsumerRunner
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.storage import SQLiteFiles
from metaledger.projections.cloudevents import Origin
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.relay.publisher import BATCH_BYTES, LINGER_MS, Publisher
from metaledger.projections.relay.relay import LIVE_BATCH_SIZE, Relay
from metaledger.projections.relay.topics import TopicSpec, ensure_topic
from tests.benchmarks.harness import admin_token, serve
from tests.support import processes
from tests.support.backlog import write_backlog
from tests.support.kafka_broker import KafkaBroker
from tests.support.stream import at_least, read_topic, unique_topic
from tests.support.users import PASSWORD

EVENTS_PER_USER = 10
PARTITIONS = 3
ORIGIN = Origin.of("http://bench.test/", "bench")


def bench_backlog(broker: KafkaBroker, users: int) -> None:
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-relay-") as directory:
        data_dir = Path(directory)
        settings = Settings(data_dir=data_dir, issuer="http://bench.test/")
        profiles = build_profiles(settings)
        started = time.perf_counter()
        end = write_backlog(profiles, users, EVENTS_PER_USER)
        print(f"backlog: {end:,} events written in {time.perf_counter() - started:.1f} s")

        work_rate = relay_work_alone(profiles)
        profiles.close()

        # The relay as it runs in production: `metaledger relay`, a process of its own.
        topic = unique_topic("bench")
        settings = settings.replace(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            kafka_topic=topic,
            kafka_partitions=PARTITIONS,
        )
        position = stores.relay_position(SQLiteFiles(data_dir))
        relay = processes.start(settings, "relay", log=data_dir / "relay.log")
        try:
            first = wait_for_position(position, lambda at: at > 0)
            started = time.perf_counter()
            wait_for_position(position, lambda at: at >= end)
            relay_seconds = time.perf_counter() - started
        finally:
            relay.terminate()
            relay.wait(60)
            position.close()
        relay_rate = (end - first) / relay_seconds

    size = average_message_size(broker, topic)
    baseline_rate = bare_producer(broker, end, size)
    print(f"  bare producer, {end:,} messages of {size} bytes   {baseline_rate:9,.0f} msg/s")
    print(f"  relay's own work, nothing sent              {work_rate:9,.0f} events/s")
    print(
        f"  metaledger relay, backlog of {end:,} events   {relay_rate:9,.0f} events/s"
        f"  {relay_rate / baseline_rate:5.2f}x baseline  ({relay_seconds:.1f} s; target ≥ 20,000)"
    )


def relay_work_alone(profiles: UserProfiles) -> float:
    """Read, decrypt, fold and serialise the whole backlog, publishing nothing."""
    relay = Relay(profiles, cast(RelayPosition, None), cast(Publisher, None), ORIGIN)
    started = time.perf_counter()
    position = events = 0
    while notifications := profiles.recorder.select_notifications(
        position, LIVE_BATCH_SIZE, inclusive_of_start=False
    ):
        events += sum(1 for _ in relay.records(notifications))
        position = notifications[-1].id
    return events / (time.perf_counter() - started)


def wait_for_position(position: RelayPosition, reached: Callable[[int], bool]) -> int:
    while not reached(at := position.current()):
        time.sleep(0.01)
    return at


def average_message_size(broker: KafkaBroker, topic: str) -> int:
    sample = read_topic(broker.bootstrap_servers, topic, at_least(2000), timeout=30)
    return int(statistics.fmean(len(m.value or b"") for m in sample[:2000]))


def bare_producer(broker: KafkaBroker, count: int, size: int) -> float:
    topic = unique_topic("bench-bare")
    ensure_topic(broker.bootstrap_servers, TopicSpec(topic, PARTITIONS, 1))
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        batch_size=BATCH_BYTES,
    )
    value = b"x" * size
    keys = [f"auth0|backlog{n % 20000:017d}".encode() for n in range(count)]
    started = time.perf_counter()
    for key in keys:
        producer.send(topic, key=key, value=value)
    producer.flush()
    rate = count / (time.perf_counter() - started)
    producer.close()
    return rate


def bench_latency(broker: KafkaBroker, rate: int, seconds: int) -> None:
    topic = unique_topic("bench-latency")
    env = {
        "METALEDGER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "METALEDGER_KAFKA_TOPIC": topic,
    }
    spawn = multiprocessing.get_context("spawn")
    reports: multiprocessing.Queue[tuple[int, float, str]] = spawn.Queue()
    stop = spawn.Event()
    with serve(None, env) as base_url:
        token = admin_token(base_url)
        user_ids = asyncio.run(create_users(base_url, token, 200))
        # The consumer runs in a process of its own, as it would in production.
        consumer = spawn.Process(
            target=consume_and_report, args=(broker.bootstrap_servers, topic, reports, stop)
        )
        consumer.start()
        handled: dict[int, tuple[float, float]] = {}
        try:
            # Timing starts once the consumer has joined its group and sees a first change.
            asyncio.run(paced_patches(base_url, token, user_ids, rate, 0, first=-1))
            while reports.get(timeout=120)[0] != -1:
                pass
            sent, round_trips = asyncio.run(paced_patches(base_url, token, user_ids, rate, seconds))
            deadline = time.monotonic() + 60
            while len(handled) < len(sent) and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    sequence, at, recorded = reports.get(timeout=0.5)
                    handled[sequence] = (at, timestamp(recorded))
        finally:
            stop.set()
            consumer.join(60)
    latencies = sorted((handled[n][0] - sent[n]) * 1000 for n in sent if n in handled)
    stored = sorted((handled[n][0] - handled[n][1]) * 1000 for n in sent if n in handled)
    trips = sorted(round_trips)
    print(f"latency: {len(sent):,} PATCHes at {rate}/s, {len(latencies):,} seen by the consumer")
    print(f"  HTTP round trip (baseline)        {spread(trips)}")
    print(f"  event stored → consumer handler   {spread(stored)}")
    print(
        f"  write → consumer handler          {spread(latencies)}"
        f"  ({pct(latencies, 0.99) / pct(trips, 0.99):5.1f}x baseline p99; target p99 ≤ 250 ms)"
    )


def consume_and_report(
    bootstrap_servers: str,
    topic: str,
    reports: multiprocessing.Queue[tuple[int, float, str]],
    stop: EventType,
) -> None:
    """The entitlements consumer, reporting when each PATCH's effects were committed."""

    def on_handled(event: ChangeEvent) -> None:
        sequence = event.data.get("patch", {}).get("app_metadata", {}).get("seq")
        if isinstance(sequence, int):
            reports.put((sequence, time.time(), event.time))

    with tempfile.TemporaryDirectory(prefix="metaledger-bench-consumer-") as directory:
        runner = ConsumerRunner(
            ConsumerConfig(bootstrap_servers, topic),
            EntitlementsHandler(),
            stores.consumer_database(SQLiteFiles(Path(directory)), "entitlements.sqlite3"),
            on_handled=on_handled,
        )

        def stop_when_told() -> None:
            stop.wait()
            runner.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
        runner.run()


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def spread(ordered: list[float]) -> str:
    return f"p50 {pct(ordered, 0.5):7.1f} ms  p99 {pct(ordered, 0.99):7.1f} ms"


def pct(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def create_users(base_url: str, token: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as session:
        user_ids = []
        for number in range(count):
            body = {
                "connection": "Username-Password-Authentication",
                "password": PASSWORD,
                "email": f"latency{number}@example.com",
                "app_metadata": {"plan": "free"},
            }
            async with session.post("/api/v2/users", json=body) as response:
                user_ids.append((await response.json())["user_id"])
        return user_ids


async def paced_patches(
    base_url: str, token: str, user_ids: list[str], rate: int, seconds: int, first: int = 0
) -> tuple[dict[int, float], list[float]]:
    """PATCHes sent on a fixed schedule (not waiting for each other), each with a sequence
    number in app_metadata for the consumer side to recognise."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent: dict[int, float] = {}
    round_trips: list[float] = []
    async with aiohttp.ClientSession(base_url, headers=headers) as session:

        async def one(sequence: int) -> None:
            user_id = user_ids[sequence % len(user_ids)]
            body = orjson.dumps({"app_metadata": {"plan": f"plan-{sequence % 7}", "seq": sequence}})
            sent[sequence] = time.time()  # wall clock: compared with the consumer process's
            started = time.perf_counter()
            async with session.patch(f"/api/v2/users/{user_id}", data=body) as response:
                await response.read()
            round_trips.append((time.perf_counter() - started) * 1000)

        tasks = []
        began = time.perf_counter()
        for sequence in range(first, rate * seconds):
            delay = began + (sequence - first) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(sequence)))
        await asyncio.gather(*tasks)
    return sent, round_trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000, help="backlog users (x10 events)")
    parser.add_argument("--rate", type=int, default=200, help="PATCHes per second")
    parser.add_argument("--seconds", type=int, default=30, help="how long the paced load runs")
    args = parser.parse_args()
    with KafkaBroker() as broker:
        print(f"broker up in {broker.startup_seconds:.1f} s at {broker.bootstrap_servers}")
        bench_backlog(broker, args.users)
        bench_latency(broker, args.rate, args.seconds)


if __name__ == "__main__":
    main()
