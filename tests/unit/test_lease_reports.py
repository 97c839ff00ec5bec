"""What /readyz and the metrics say of a cluster's leases: who holds each, and whether it is
this node."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.core import Metric

from metaledger.api.observability.leases import LeaseCollector, cluster_state
from metaledger.projections.lease import LeaseState

LEASES = [
    LeaseState("projector", "node-1", 4, True),
    LeaseState("relay", "node-2", 7, False),  # expired: nobody is active yet
]


def samples(metrics: Sequence[Metric], name: str) -> dict[tuple[str, ...], float]:
    family = next(metric for metric in metrics if metric.name == name)
    return {tuple(sample.labels.values()): sample.value for sample in family.samples}


def test_readyz_names_each_holder_and_whether_it_is_this_node() -> None:
    state = cluster_state("node-1", lambda: LEASES)
    assert state == {
        "node": "node-1",
        "leases": {
            "projector": {"holder": "node-1", "generation": 4, "live": True, "this_node": True},
            "relay": {"holder": "node-2", "generation": 7, "live": False, "this_node": False},
        },
    }


def test_a_single_node_has_no_cluster_state() -> None:
    assert cluster_state("node-1", list) is None


def test_leases_that_cannot_be_read_are_said_unavailable() -> None:
    def unreachable() -> list[LeaseState]:
        raise OSError("connection refused")

    assert cluster_state("node-1", unreachable) == {"node": "node-1", "status": "unavailable"}


def test_the_metrics_say_which_leases_this_node_holds_and_their_generations() -> None:
    metrics = list(LeaseCollector("node-1", lambda: LEASES).collect())
    assert samples(metrics, "metaledger_lease_active") == {
        ("projector", "node-1"): 1,
        ("relay", "node-1"): 0,
    }
    assert samples(metrics, "metaledger_lease_generation") == {("projector",): 4, ("relay",): 7}
