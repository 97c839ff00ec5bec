"""Creating a topic when it is missing (the broker is expected not to auto-create topics)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger("metaledger.kafka")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    replication_factor: int = 1


def ensure_topic(bootstrap_servers: str, spec: TopicSpec, client_id: str = "metaledger") -> bool:
    """Creates the topic unless it exists; True when this call created it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
    try:
        if spec.name in admin.list_topics():
            return False
        try:
            admin.create_topics(
                {
                    spec.name: {
                        "num_partitions": spec.partitions,
                        "replication_factor": spec.replication_factor,
                    }
                },
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:  # created by another process in the meantime
            return False
        log.info(
            "created topic %s (%d partitions, replication factor %d)",
            spec.name,
            spec.partitions,
            spec.replication_factor,
        )
        return True
    finally:
        with contextlib.suppress(Exception):
            admin.close()
