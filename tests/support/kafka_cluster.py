"""Three Kafka brokers in one KRaft cluster (each a broker and a controller, static voters), from
the same Maven Central jars as the single test broker; topics replicated on all three with
`min.insync.replicas=2`, so one broker may die without losing an acknowledged record."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.kafka_broker import KafkaBroker, _random_cluster_id, find_free_port

SIZE = 3
REPLICATED = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
}


class ClusterMember(KafkaBroker):
    def __init__(self, node_id: int, voters: str, cluster_id: str, port: int, cport: int) -> None:
        super().__init__(port=port, controller_port=cport, config=REPLICATED)
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id

    def _quorum_config(self) -> dict[str, str]:
        return {
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
        }

    def _format_options(self) -> list[str]:
        return ["--cluster-id", self.cluster_id]


class KafkaCluster:
    """Started together (a broker is ready only once the quorum is); stopped with `close`."""

    def __init__(self) -> None:
        ports = [(find_free_port(), find_free_port()) for _ in range(SIZE)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{cport}" for i, (_, cport) in enumerate(ports))
        cluster_id = _random_cluster_id()
        self.brokers = [
            ClusterMember(i + 1, voters, cluster_id, port, cport)
            for i, (port, cport) in enumerate(ports)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(broker.bootstrap_servers for broker in self.brokers)

    def start(self) -> None:
        with ThreadPoolExecutor(SIZE) as pool:
            list(pool.map(lambda broker: broker.start(), self.brokers))

    def close(self) -> None:
        with ThreadPoolExecutor(SIZE) as pool:
            list(pool.map(lambda broker: broker.close(), self.brokers))
