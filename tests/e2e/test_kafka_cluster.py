"""The relay on a three-broker Kafka cluster (replication 3, `min.insync.replicas=2`, the
producer idempotent with `acks=all`): a broker killed during writes, then restarted, loses no
acknowledged event, and the relay goes on meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metaledger.api.settings import Settings
from tests.support.kafka_cluster import KafkaCluster
from tests.support.ports import free_port
from tests.support.serve import ServeProcess
from tests.support.stream import events_of, every_position_up_to, read_topic, unique_topic

POSITION_HEADER = "X-Metaledger-Position"
WRITES_PER_PHASE = 20


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[KafkaCluster]:
    cluster = KafkaCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


def write(client: httpx.Client, user_id: str, count: int, start: int) -> int:
    """`count` acknowledged PATCHes; the position of the last."""
    position = 0
    for value in range(start, start + count):
        response = client.patch(f"/api/v2/users/{user_id}", json={"user_metadata": {"n": value}})
        assert response.status_code == 200, response.text
        position = int(response.headers[POSITION_HEADER])
    return position


def test_a_broker_killed_during_writes_then_restarted_loses_no_acknowledged_event(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    topic = unique_topic()
    settings = Settings(
        data_dir=tmp_path / "data",
        issuer="http://metaledger.test/",
        kafka_bootstrap_servers=kafka_cluster.bootstrap_servers,
        kafka_topic=topic,
    )
    variables = {"METALEDGER_KAFKA_REPLICATION_FACTOR": "3"}
    with (
        ServeProcess(settings, free_port(), 1, tmp_path / "serve.log", variables) as node,
        httpx.Client(
            base_url=node.base_url, headers={"Authorization": f"Bearer {node.token()}"}
        ) as client,
    ):
        created = client.post(
            "/api/v2/users",
            json={
                "connection": "Username-Password-Authentication",
                "email": "replicated@example.com",
                "password": "correct horse battery staple",
            },
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        write(client, user_id, WRITES_PER_PHASE, 0)
        victim = kafka_cluster.brokers[1]
        victim.kill()
        write(client, user_id, WRITES_PER_PHASE, WRITES_PER_PHASE)
        victim.start()
        last = write(client, user_id, WRITES_PER_PHASE, 2 * WRITES_PER_PHASE)
        messages = read_topic(kafka_cluster.bootstrap_servers, topic, every_position_up_to(last))
    events = events_of(messages)
    assert {event["metaledgerposition"] for event in events} == set(range(1, last + 1))
    published = [
        event["data"]["patch"]["user_metadata"]["n"]
        for event in events
        if (event["data"].get("patch") or {}).get("user_metadata")
    ]
    assert sorted(set(published)) == list(range(3 * WRITES_PER_PHASE))
