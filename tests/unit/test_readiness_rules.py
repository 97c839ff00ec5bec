"""Readiness part by part, and the metrics' labels kept to bounded sets."""

from __future__ import annotations

import pytest

from metaledger.api.observability.metrics import route_label
from metaledger.api.observability.positions import RELAY, SEARCH, LogPositions
from metaledger.api.observability.readiness import readiness


def _unreachable() -> int:
    raise ConnectionError("gone")


def test_a_store_that_does_not_answer_is_the_one_part_named() -> None:
    state = readiness(LogPositions(_unreachable, {SEARCH: lambda: 0}), max_lag=10)
    assert not state.ready
    assert state.problems == ["the event store is not reachable"]
    assert state.checks == {"store": {"status": "unavailable"}}


def test_a_follower_whose_store_does_not_answer_is_unavailable() -> None:
    state = readiness(LogPositions(lambda: 5, {SEARCH: lambda: 5, RELAY: _unreachable}), 10)
    assert state.problems == ["the relay is not reachable"]
    assert state.checks["relay"] == {"status": "unavailable"}
    assert state.checks["search"] == {"status": "ready", "position": 5, "lag": 0}


def test_an_empty_log_is_ready() -> None:
    state = readiness(LogPositions(lambda: None, {SEARCH: lambda: None}), 1)
    assert state.ready
    assert state.position == 0


@pytest.mark.parametrize(
    ("method", "route", "labels"),
    [
        ("GET", "/api/v2/users/{id}", ("GET", "/api/v2/users/{id}")),
        ("PROPFIND", None, ("OTHER", "unmatched")),
        ("PATCH", None, ("PATCH", "unmatched")),
    ],
)
def test_route_labels_are_templates_and_known_methods(
    method: str, route: str | None, labels: tuple[str, str]
) -> None:
    assert route_label(method, route) == labels
