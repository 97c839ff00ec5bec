"""The cluster's compose file: valid Compose, three nodes sharing one database, key and admin
client (none defaulted), and three brokers keeping each event on two at least."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = yaml.safe_load((ROOT / "compose" / "cluster.yml").read_text())
# The compose-spec schema that the dclint linter bundles (`make compose-schema` installs it).
COMPOSE_SCHEMA = (
    ROOT / "tests/integration/monitoring/node_modules/dclint/schemas/compose.schema.json"
)
NODES = ("node-1", "node-2", "node-3")
BROKERS = ("kafka-1", "kafka-2", "kafka-3")


def environment(service: str) -> dict[str, Any]:
    environment: dict[str, Any] = CLUSTER["services"][service]["environment"]
    return environment


def test_the_cluster_file_follows_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(CLUSTER)] == []


def test_the_nodes_share_the_database_key_and_admin_client_and_refuse_to_start_without() -> None:
    shared = ("METALEDGER_DATABASE_URL", "METALEDGER_SIGNING_KEY", "METALEDGER_ADMIN_CLIENT_SECRET")
    for name in shared:
        values = {environment(node)[name] for node in NODES}
        assert len(values) == 1
        assert ":?set " in values.pop()
    assert {environment(node)["METALEDGER_CLUSTER"] for node in NODES} == {"1"}
    assert len({environment(node)["METALEDGER_NODE_NAME"] for node in NODES}) == 3


def test_the_three_brokers_form_one_quorum_and_keep_each_event_on_two() -> None:
    voters = {environment(broker)["KAFKA_CONTROLLER_QUORUM_VOTERS"] for broker in BROKERS}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for broker in BROKERS:
        assert environment(broker)["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert environment("node-1")["METALEDGER_KAFKA_REPLICATION_FACTOR"] == "3"
