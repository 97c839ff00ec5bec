"""How far the followers of the event log are behind it: for `/readyz` and for the metrics.

The positions are read from the stores when asked (a scrape, a readiness probe), so every
process sees the same figures, wherever the followers run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Position = Callable[[], int | None]

# The followers' names, as their threads and the metrics' labels call them.
SEARCH = "search-projector"
AUDIT = "audit-projector"
RELAY = "relay"


@dataclass(frozen=True)
class FollowerState:
    name: str
    position: int
    lag: int  # events recorded after `position`


@dataclass(frozen=True)
class LogPositions:
    """The end of the event log and the positions of the followers kept beside it."""

    end: Position
    followers: Mapping[str, Position]

    def read(self) -> tuple[int, list[FollowerState]]:
        """The log's end and each follower's state; a store that fails raises."""
        end = self.end() or 0
        states = []
        for name, position in self.followers.items():
            at = position() or 0
            states.append(FollowerState(name, at, max(end - at, 0)))
        return end, states


class PositionsCollector(Collector):
    """The positions as gauges, read at each scrape."""

    def __init__(self, positions: LogPositions) -> None:
        self.positions = positions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        end, states = self.positions.read()
        yield GaugeMetricFamily(
            "metaledger_event_log_position", "Position of the event log's last event.", end
        )
        position = GaugeMetricFamily(
            "metaledger_follower_position",
            "Position of the last event a follower of the log has applied or published.",
            labels=("follower",),
        )
        lag = GaugeMetricFamily(
            "metaledger_follower_lag_events",
            "Events recorded in the log that a follower has not applied or published yet.",
            labels=("follower",),
        )
        for state in states:
            position.add_metric((state.name,), state.position)
            lag.add_metric((state.name,), state.lag)
        yield position
        yield lag


def one_follower(end: Position, name: str, position: Position) -> PositionsCollector:
    """The collector of a process that runs one follower (`project`, `relay`)."""
    return PositionsCollector(LogPositions(end, {name: position}))
