"""Which node of a cluster runs each background worker, read from the leases when asked: for
`/readyz` and for the metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from metaledger.projections.lease import LeaseState

Leases = Callable[[], list[LeaseState]]


def cluster_state(node: str, leases: Leases) -> dict[str, Any] | None:
    """This node's name and, for each lease, its holder and whether it is this node; None on a
    single node (no leases). A database that does not answer says `unavailable`."""
    try:
        states = leases()
    except Exception:  # /readyz says the store is unreachable already
        return {"node": node, "status": "unavailable"}
    if not states:
        return None
    return {
        "node": node,
        "leases": {
            state.name: {
                "holder": state.holder,
                "generation": state.generation,
                "live": state.live,
                "this_node": state.live and state.holder == node,
            }
            for state in states
        },
    }


class LeaseCollector(Collector):
    """`metaledger_lease_active{lease}`: 1 where this node holds the lease, and each lease's
    generation (a change of holder bumps it)."""

    def __init__(self, node: str, leases: Leases) -> None:
        self.node = node
        self.leases = leases

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = self.leases()
        active = GaugeMetricFamily(
            "metaledger_lease_active",
            "1 when this node holds the lease and runs its worker, else 0.",
            labels=("lease", "node"),
        )
        generation = GaugeMetricFamily(
            "metaledger_lease_generation",
            "The lease's generation: how many times it changed holder.",
            labels=("lease",),
        )
        for state in states:
            held = state.live and state.holder == self.node
            active.add_metric((state.name, self.node), 1 if held else 0)
            generation.add_metric((state.name,), state.generation)
        yield active
        yield generation
