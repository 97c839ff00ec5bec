"""Whether this process should get traffic, part by part: the event store answers, and the
search read model and the relay (when publishing is on) are not too far behind the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metaledger.api.observability.positions import AUDIT, RELAY, SEARCH, LogPositions

# The parts as /readyz names them.
STORE = "store"
PARTS = {SEARCH: "search", AUDIT: "audit", RELAY: "relay"}
WHAT = {SEARCH: "the search read model", AUDIT: "the audit read model", RELAY: "the relay"}


@dataclass
class Readiness:
    position: int = 0
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


def readiness(positions: LogPositions, max_lag: int) -> Readiness:
    """Each part's state; one that fails to answer is not ready, and so is a follower more
    than `max_lag` events behind the log."""
    result = Readiness()
    try:
        result.position = positions.end() or 0
    except Exception:  # any failure to reach the store means not ready
        result.checks[STORE] = {"status": "unavailable"}
        result.problems.append("the event store is not reachable")
        return result
    result.checks[STORE] = {"status": "ready", "position": result.position}
    for follower, position in positions.followers.items():
        part = PARTS.get(follower, follower)
        try:
            at = position() or 0
        except Exception:  # its store is away: what it serves cannot be trusted
            result.checks[part] = {"status": "unavailable"}
            result.problems.append(f"{WHAT.get(follower, follower)} is not reachable")
            continue
        lag = max(result.position - at, 0)
        lagging = lag > max_lag
        result.checks[part] = {
            "status": "lagging" if lagging else "ready",
            "position": at,
            "lag": lag,
        }
        if lagging:
            result.problems.append(
                f"{WHAT.get(follower, follower)} is {lag} events behind the event log "
                f"(more than {max_lag})"
            )
    return result
