"""Several `metaledger serve` nodes on one PostgreSQL: they start together on an empty database,
share tokens, and run one search/audit projector and one relay between them, handed over within
seconds when the active node is killed (SIGKILL) or stalled (SIGSTOP), with no overlap of terms
and no acknowledged write lost on the topic or in the read model."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from metaledger.api.settings import Settings
from metaledger.projections.lease import HISTORY_TABLE
from tests.support.kafka_broker import KafkaBroker
from tests.support.leases import lease_holder
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.serve import ServeProcess
from tests.support.stream import events_of, read_topic, unique_topic

POSITION_HEADER = "X-Metaledger-Position"
ISSUER = "http://metaledger.test/"
CONNECTION = "Username-Password-Authentication"
USERS = 6
# Failover takes at most the lease's 3 s and a standby's next attempt; this is only how long a
# test waits before it reports what it saw.
TAKEOVER_WAIT_SECONDS = 30


def signing_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Cluster:
    """Nodes `node-0`… on one database; `nodes[i]` is None once killed."""

    database_url: str
    nodes: list[ServeProcess | None]
    topic: str | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    def live(self) -> list[ServeProcess]:
        return [node for node in self.nodes if node is not None]

    def holder(self, lease: str) -> str | None:
        """The node that holds `lease` now, as the database says."""
        return lease_holder(self.database_url, lease)

    def index_of(self, name: str) -> int:
        return int(name.rsplit("-", 1)[1])

    def wait_for_holder(self, lease: str, other_than: str | None = None) -> str:
        deadline = time.monotonic() + TAKEOVER_WAIT_SECONDS
        while (holder := self.holder(lease)) is None or holder == other_than:
            assert time.monotonic() < deadline, f"no node took the {lease} lease"
            time.sleep(0.1)
        return holder

    def kill(self, index: int) -> None:
        node = self.nodes[index]
        assert node is not None
        node.kill_group()
        self.nodes[index] = None

    def history(self) -> dict[str, list[tuple[int, str, Any, Any]]]:
        """Each lease's terms in generation order: (generation, holder, taken, ended)."""
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute(
                f"SELECT name, generation, holder, acquired_at, ended_at FROM {HISTORY_TABLE} "
                "ORDER BY name, generation"
            ).fetchall()
        terms: dict[str, list[tuple[int, str, Any, Any]]] = {}
        for name, *term in rows:
            terms.setdefault(name, []).append((term[0], term[1], term[2], term[3]))
        return terms


def start_nodes(
    count: int,
    database_url: str,
    tmp_path: Path,
    stack: ExitStack,
    variables: dict[str, str] | None = None,
) -> list[ServeProcess]:
    """`count` nodes started at once (each waits until it serves), sharing key and admin client."""
    shared = {
        "METALEDGER_CLUSTER": "1",
        "METALEDGER_SIGNING_KEY": signing_key_pem(),
        "METALEDGER_SANDBOX_WORKERS": "1",
        **(variables or {}),
    }
    nodes = []
    for index in range(count):
        settings = Settings(
            data_dir=tmp_path / f"node-{index}", database_url=database_url, issuer=ISSUER
        )
        nodes.append(
            ServeProcess(
                settings,
                free_port(),
                1,
                tmp_path / f"node-{index}.log",
                {**shared, "METALEDGER_NODE_NAME": f"node-{index}"},
            )
        )
    with ThreadPoolExecutor(count) as pool:
        started = list(pool.map(stack.enter_context, nodes))
    return started


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer,
    kafka_broker: KafkaBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Three nodes publishing to the suite's broker, on a database of their own."""
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    topic = unique_topic()
    with ExitStack() as stack:
        nodes = start_nodes(
            3,
            url,
            tmp_path_factory.mktemp("cluster"),
            stack,
            {
                "METALEDGER_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                "METALEDGER_KAFKA_TOPIC": topic,
            },
        )
        yield Cluster(url, list(nodes), topic)
    postgres_server.drop_database(name)


@dataclass
class Writes:
    """What the writers were told: per user, its acknowledged values in order."""

    acknowledged: dict[str, list[int]] = field(default_factory=dict)
    position: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, user_id: str, value: int, response: httpx.Response) -> None:
        with self.lock:
            self.acknowledged.setdefault(user_id, []).append(value)
            self.position = max(self.position, int(response.headers[POSITION_HEADER]))


class Writer:
    """PATCHes the users through every live node in turn, until stopped."""

    def __init__(self, cluster: Cluster, users: list[str], token: str) -> None:
        self.cluster = cluster
        self.users = users
        self.headers = {"Authorization": f"Bearer {token}"}
        self.writes = Writes()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join()

    def count(self) -> int:
        with self.writes.lock:
            return sum(len(values) for values in self.writes.acknowledged.values())

    def wait_for(self, count: int) -> None:
        target = self.count() + count
        while self.count() < target:
            time.sleep(0.05)

    def _run(self) -> None:
        value = 0
        while not self._stopping.is_set():
            for node in self.cluster.live():
                user = self.users[value % len(self.users)]
                value += 1
                try:
                    response = httpx.patch(
                        f"{node.base_url}/api/v2/users/{user}",
                        json={"user_metadata": {"n": value}},
                        headers=self.headers,
                        timeout=10,
                    )
                except httpx.TransportError:
                    continue  # a node going away: not acknowledged
                if response.status_code == 200:
                    self.writes.record(user, value, response)


def create_users(node: ServeProcess, token: str) -> list[str]:
    users = []
    for index in range(USERS):
        response = httpx.post(
            f"{node.base_url}/api/v2/users",
            json={
                "connection": CONNECTION,
                "email": f"member{index}@example.com",
                "password": "correct horse battery staple",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        users.append(response.json()["user_id"])
    return users


def assert_terms_never_overlap(cluster: Cluster) -> None:
    for name, terms in cluster.history().items():
        for (_, before, _, ended), (generation, after, taken, _) in itertools.pairwise(terms):
            assert ended <= taken, (
                f"{name}: {after} took generation {generation} before {before}'s term ended"
            )


def test_ten_nodes_started_at_once_on_an_empty_database_all_serve(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    name = postgres_server.create_database()
    try:
        with ExitStack() as stack:
            nodes = start_nodes(10, postgres_server.url(name), tmp_path, stack)
            token = nodes[0].token()
            for node in nodes:  # one signing key: a token of one node is good on all
                response = httpx.get(
                    f"{node.base_url}/api/v2/users", headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text
    finally:
        postgres_server.drop_database(name)


def test_readyz_says_which_node_runs_each_worker(cluster: Cluster) -> None:
    holder = cluster.wait_for_holder("projector")
    for node in cluster.live():
        state = httpx.get(f"{node.base_url}/readyz").json()["cluster"]
        lease = state["leases"]["projector"]
        assert (lease["holder"], lease["this_node"]) == (holder, state["node"] == holder)


def test_a_stalled_active_projector_loses_its_lease_and_stays_fenced_after_resuming(
    cluster: Cluster,
) -> None:
    holder = cluster.wait_for_holder("projector")
    stalled = cluster.nodes[cluster.index_of(holder)]
    assert stalled is not None
    os.kill(stalled.pid, signal.SIGSTOP)
    try:
        successor = cluster.wait_for_holder("projector", other_than=holder)
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    deadline = time.monotonic() + TAKEOVER_WAIT_SECONDS
    while f"{holder} lost the projector lease" not in stalled.log.read_text():
        assert time.monotonic() < deadline, stalled.log.read_text()
        time.sleep(0.1)
    assert cluster.holder("projector") == successor
    terms = cluster.history()["projector"]
    assert [term[1] for term in terms[-2:]] == [holder, successor]
    assert_terms_never_overlap(cluster)


def test_killing_the_active_relay_then_projector_loses_no_acknowledged_write(
    cluster: Cluster,
) -> None:
    token = cluster.live()[0].token()
    users = create_users(cluster.live()[0], token)
    with Writer(cluster, users, token) as writer:
        for lease in ("relay", "projector"):
            writer.wait_for(30)
            holder = cluster.wait_for_holder(lease)
            cluster.kill(cluster.index_of(holder))
            cluster.wait_for_holder(lease, other_than=holder)
            writer.wait_for(30)
    writes = writer.writes
    survivor = cluster.live()[0]
    found = httpx.get(
        f"{survivor.base_url}/api/v2/users",
        params={"min_position": writes.position, "per_page": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert found.status_code == 200, found.text
    projected = {user["user_id"]: user.get("user_metadata", {}).get("n") for user in found.json()}
    assert {user: projected[user] for user in writes.acknowledged} == {
        user: values[-1] for user, values in writes.acknowledged.items()
    }
    assert cluster.topic is not None
    assert_every_write_published_in_order(survivor, cluster.topic, writes)
    assert_terms_never_overlap(cluster)


def assert_every_write_published_in_order(node: ServeProcess, topic: str, writes: Writes) -> None:
    """Each user's acknowledged values are on the topic in the order acknowledged (at least
    once: a batch published again after a failover adds duplicates, which are left out)."""
    messages = read_topic(
        node.variables["METALEDGER_KAFKA_BOOTSTRAP_SERVERS"],
        topic,
        lambda got: (
            max((e["metaledgerposition"] for e in events_of(got)), default=0) >= writes.position
        ),
    )
    published: dict[str, list[int]] = {}
    seen: set[int] = set()
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        if message.value is None or message.event["metaledgerposition"] in seen:
            continue
        event = message.event
        seen.add(event["metaledgerposition"])
        value = ((event["data"].get("patch") or {}).get("user_metadata") or {}).get("n")
        if value is not None:
            published.setdefault(event["subject"], []).append(value)
    assert {
        user: [v for v in published.get(user, []) if v in values]
        for user, values in writes.acknowledged.items()
    } == writes.acknowledged
