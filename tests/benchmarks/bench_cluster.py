"""Several nodes on one PostgreSQL and a three-broker Kafka: PATCH throughput with 1, 2 and 3
nodes, failover time from SIGKILL of the active projector's (relay's) node to the first event
the new active node projects (publishes), and relay throughput to the three brokers.

Run: .venv/bin/python -m tests.benchmarks.bench_cluster [--users N] [--requests N] [--kills N]
     [--backlog-users N]

Each node is a real `metaledger serve` process (one HTTP process, the workers embedded), on one
durable PostgreSQL; the load comes from this process, spread evenly over the nodes in use, and
all share the machine's cores. Baseline, measured in the same run and interleaved: one node.
Failover: a node is killed, a PATCH is made at once through a surviving node, and the time is
taken until the search read model holds it, or until it is on the topic (the lease's 3 s, the
standby's next attempt, the new worker's start); the killed node is started again before the
next kill.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.relay.publisher import BATCH_BYTES, LINGER_MS
from metaledger.projections.relay.topics import TopicSpec, ensure_topic
from tests.benchmarks.harness import CLIENT_ID, CLIENT_SECRET, Figures, _load
from tests.support import processes
from tests.support.backlog import write_backlog
from tests.support.kafka_cluster import KafkaCluster
from tests.support.leases import lease_holder
from tests.support.oauth import client_credentials_token
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.stream import at_least, read_topic, unique_topic
from tests.support.users import PASSWORD

ISSUER = "http://metaledger.bench/"
TOPIC = "metaledger.bench"
EVENTS_PER_USER = 10


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "metaledger.api.cli", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process is not None
            assert self.process.poll() is None, f"{self.name} died"
            assert time.monotonic() < deadline, f"{self.name} did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@contextmanager
def cluster(database_url: str, count: int, bootstrap_servers: str) -> Iterator[list[Node]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with (
        tempfile.TemporaryDirectory(prefix="metaledger-cluster-bench-") as data,
        ExitStack() as stack,
    ):
        nodes = []
        for index in range(count):
            port = free_port()
            env = {
                **os.environ,
                "METALEDGER_CLUSTER": "1",
                "METALEDGER_DATABASE_URL": database_url,
                "METALEDGER_SIGNING_KEY": pem,
                "METALEDGER_ADMIN_CLIENT_ID": CLIENT_ID,
                "METALEDGER_ADMIN_CLIENT_SECRET": CLIENT_SECRET,
                "METALEDGER_ISSUER": ISSUER,
                "METALEDGER_NODE_NAME": f"node-{index}",
                "METALEDGER_PORT": str(port),
                "METALEDGER_DATA_DIR": f"{data}/node-{index}",
                "METALEDGER_METRICS_PORT": "0",
                "METALEDGER_SANDBOX_WORKERS": "1",
                "METALEDGER_ARGON2_TIME_COST": "1",
                "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024",
                "METALEDGER_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
                "METALEDGER_KAFKA_TOPIC": TOPIC,
                "METALEDGER_KAFKA_REPLICATION_FACTOR": "3",
            }
            nodes.append(Node(f"node-{index}", port, env))
        for node in nodes:
            node.start()
            stack.callback(node.stop)
        for node in nodes:
            node.wait_until_serving()
        yield nodes


def token(node: Node) -> str:
    return client_credentials_token(node.base_url, CLIENT_ID, CLIENT_SECRET, f"{ISSUER}api/v2/")


def create_users(node: Node, bearer: str, users: int) -> list[str]:
    ids = []
    with httpx.Client(
        base_url=node.base_url, headers={"Authorization": f"Bearer {bearer}"}
    ) as http:
        for index in range(users):
            response = http.post(
                "/api/v2/users",
                json={
                    "connection": "Username-Password-Authentication",
                    "email": f"bench{index}@example.com",
                    "password": PASSWORD,
                },
            )
            response.raise_for_status()
            ids.append(response.json()["user_id"])
    return ids


async def _spread(nodes: list[Node], bearer: str, users: list[str], requests: int) -> Figures:
    """`requests` PATCHes, 16 at a time on each node in use; throughput over them all."""

    async def patch(session: aiohttp.ClientSession, index: int) -> int:
        body = {"user_metadata": {"n": index}}
        async with session.patch(f"/api/v2/users/{users[index % len(users)]}", json=body) as r:
            await r.read()
            return r.status

    share = requests // len(nodes)
    started = time.perf_counter()
    parts = await asyncio.gather(*(_load(n.base_url, bearer, patch, share, 16) for n in nodes))
    seconds = time.perf_counter() - started
    latencies = [latency for part in parts for latency in part.latencies_ms]
    errors = sum(part.errors for part in parts)
    return Figures(f"PATCH, {len(nodes)} node(s)", share * len(nodes), seconds, latencies, errors)


def scaling(nodes: list[Node], bearer: str, users: list[str], requests: int, rounds: int) -> None:
    print(f"\nPATCH throughput, {requests} PATCHes a run, {rounds} interleaved rounds")
    runs: dict[int, list[Figures]] = {1: [], 2: [], 3: []}
    for _ in range(rounds):
        for count in runs:
            runs[count].append(asyncio.run(_spread(nodes[:count], bearer, users, requests)))
    best = {count: max(figures, key=lambda f: f.throughput) for count, figures in runs.items()}
    for count in runs:
        print(best[count].line(best[1]))


class Tail:
    """The topic from its current end: waits for an event at or past a position."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
        partitions = self.consumer.partitions_for_topic(TOPIC) or set()
        self.partitions = [TopicPartition(TOPIC, number) for number in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_end(*self.partitions)

    def wait_for(self, position: int) -> None:
        while True:
            for records in self.consumer.poll(timeout_ms=50).values():
                for record in records:
                    if (
                        record.value
                        and orjson.loads(record.value)["metaledgerposition"] >= position
                    ):
                        return

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def failover(
    nodes: list[Node], database_url: str, bearer: str, user: str, kills: int, brokers: str
) -> None:
    """SIGKILL of the active projector's node, then of the active relay's, `kills` times each:
    the time until a PATCH made right after the kill is projected, or published."""
    headers = {"Authorization": f"Bearer {bearer}"}
    for lease in ("projector", "relay"):
        seconds = []
        for _ in range(kills):
            while (name := lease_holder(database_url, lease)) is None:
                time.sleep(0.05)
            victim = next(node for node in nodes if node.name == name)
            survivor = next(node for node in nodes if node is not victim)
            tail = Tail(brokers)
            victim.kill()
            killed = time.perf_counter()
            response = httpx.patch(
                f"{survivor.base_url}/api/v2/users/{user}",
                json={"user_metadata": {"failover": time.time()}},
                headers=headers,
            )
            position = int(response.headers["X-Metaledger-Position"])
            if lease == "relay":
                tail.wait_for(position)
            else:
                params = {"min_position": position, "per_page": 1}
                url = f"{survivor.base_url}/api/v2/users"
                while httpx.get(url, params=params, headers=headers, timeout=30).status_code != 200:
                    pass  # 503 after 10 s of waiting: ask again
            seconds.append(time.perf_counter() - killed)
            tail.close()
            victim.start()
            victim.wait_until_serving()
        what = "projected" if lease == "projector" else "published"
        print(
            f"failover of the {lease:<9}: SIGKILL -> first event {what} by the new node: "
            f"p50 {statistics.median(seconds):.2f} s  max {max(seconds):.2f} s  "
            f"min {min(seconds):.2f} s over {kills} kills (lease 3 s, standbys try every 0.5 s)"
        )


def relay_throughput(brokers: KafkaCluster, users: int) -> None:
    """`metaledger relay` publishing a backlog to the three brokers (replication 3, acks=all);
    baseline in the same run: the bare producer sending as many messages of the same size to a
    topic replicated the same way."""
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-relay-") as directory:
        settings = Settings(data_dir=Path(directory), issuer=ISSUER)
        profiles = build_profiles(settings)
        end = write_backlog(profiles, users, EVENTS_PER_USER)
        profiles.close()
        topic = unique_topic("bench-cluster")
        ensure_topic(brokers.bootstrap_servers, TopicSpec(topic, 3, 3))
        settings = settings.replace(
            kafka_bootstrap_servers=brokers.bootstrap_servers, kafka_topic=topic
        )
        position = stores.relay_position(settings.store)
        relay = processes.start(settings, "relay", log=Path(directory) / "relay.log")
        try:
            first = wait_for_position(position, lambda at: at > 0)
            started = time.perf_counter()
            wait_for_position(position, lambda at: at >= end)
            rate = (end - first) / (time.perf_counter() - started)
        finally:
            relay.terminate()
            relay.wait(60)
            position.close()
    size = statistics.fmean(
        len(m.value or b"") for m in read_topic(brokers.bootstrap_servers, topic, at_least(500))
    )
    baseline = bare_producer(brokers.bootstrap_servers, end, int(size))
    print(f"bare producer, {end:,} messages, replication 3       {baseline:9,.0f} msg/s")
    print(
        f"metaledger relay, backlog of {end:,} events, 3 brokers {rate:9,.0f} events/s"
        f"  {rate / baseline:5.2f}x baseline"
    )


def bare_producer(bootstrap_servers: str, count: int, size: int) -> float:
    topic = unique_topic("bench-cluster-bare")
    ensure_topic(bootstrap_servers, TopicSpec(topic, 3, 3))
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        batch_size=BATCH_BYTES,
    )
    value = b"x" * size
    started = time.perf_counter()
    for index in range(count):
        producer.send(topic, key=f"user{index % 1000}".encode(), value=value)
    producer.flush()
    rate = count / (time.perf_counter() - started)
    producer.close()
    return rate


def wait_for_position(position: RelayPosition, reached: Callable[[int], bool]) -> int:
    while not reached(at := position.current()):
        time.sleep(0.01)
    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--backlog-users", type=int, default=2000, help="relay backlog (x10 events)"
    )
    args = parser.parse_args()
    postgres = PostgresServer(durable=True)
    postgres.start()
    brokers = KafkaCluster()
    brokers.start()
    try:
        url = postgres.url(postgres.create_database())
        with cluster(url, 3, brokers.bootstrap_servers) as nodes:
            bearer = token(nodes[0])
            users = create_users(nodes[0], bearer, args.users)
            scaling(nodes, bearer, users, args.requests, args.rounds)
            print()
            failover(nodes, url, bearer, users[0], args.kills, brokers.bootstrap_servers)
        print()
        relay_throughput(brokers, args.backlog_users)
    finally:
        brokers.close()
        postgres.stop()


if __name__ == "__main__":
    main()
