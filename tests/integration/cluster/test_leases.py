"""Leases on a real PostgreSQL: one holder at a time, taken over once expired or released, each
term in the history, and a former holder's position writes refused by the fence."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metaledger.api import stores
from metaledger.domain.storage import PostgresDatabase, store_location
from metaledger.projections.lease import HISTORY_TABLE, FencedTracking, Lease, LeaseLost
from metaledger.projections.relay.position import RelayPosition

TTL = 0.5


@pytest.fixture
def location(postgres_url: str, tmp_path: Path) -> PostgresDatabase:
    location = store_location(postgres_url, tmp_path)
    assert isinstance(location, PostgresDatabase)
    with stores.schema_lock(location):
        pass  # makes the leases' tables
    return location


@pytest.fixture
def nodes(location: PostgresDatabase) -> Iterator[tuple[Lease, Lease]]:
    first, second = (Lease(location.connect, "relay", node, ttl=TTL) for node in ("a", "b"))
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def position(location: PostgresDatabase) -> Iterator[RelayPosition]:
    with stores.schema_lock(location):
        position = stores.relay_position(location)
    yield position
    position.close()


def take_once_expired(lease: Lease) -> None:
    while not lease.try_acquire():
        time.sleep(0.05)


def test_only_one_node_takes_a_free_lease(nodes: tuple[Lease, Lease]) -> None:
    first, second = nodes
    assert (first.try_acquire(), second.try_acquire()) == (True, False)


def test_a_standby_takes_an_expired_lease_under_the_next_generation(
    nodes: tuple[Lease, Lease],
) -> None:
    first, second = nodes
    first.try_acquire()
    take_once_expired(second)
    assert first.term is not None
    assert second.term is not None
    assert second.term.generation == first.term.generation + 1
    assert not first.renew()


def test_a_released_lease_is_taken_at_once(nodes: tuple[Lease, Lease]) -> None:
    first, second = nodes
    first.try_acquire()
    first.release()
    assert second.try_acquire()


def test_a_former_holder_cannot_record_a_position_after_a_takeover(
    nodes: tuple[Lease, Lease], position: RelayPosition
) -> None:
    first, second = nodes
    recorder = position.recorder
    assert isinstance(recorder, FencedTracking)
    recorder.fence = first.fence
    first.try_acquire()
    position.record(5)
    take_once_expired(second)
    with pytest.raises(LeaseLost):
        position.record(10)
    assert position.current() == 5


def test_a_node_that_never_held_the_lease_cannot_record_a_position(
    nodes: tuple[Lease, Lease], position: RelayPosition
) -> None:
    assert isinstance(position.recorder, FencedTracking)
    position.recorder.fence = nodes[0].fence
    with pytest.raises(LeaseLost):
        position.record(1)
    assert position.current() == 0


def test_the_history_keeps_each_term_and_terms_never_overlap(
    nodes: tuple[Lease, Lease], location: PostgresDatabase
) -> None:
    first, second = nodes
    first.try_acquire()
    first.renew()
    take_once_expired(second)
    second.release()
    with location.connect() as connection:
        terms = connection.execute(
            f"SELECT generation, holder, acquired_at, ended_at, released FROM {HISTORY_TABLE} "
            "ORDER BY generation"
        ).fetchall()
    assert [(t[0], t[1], t[4]) for t in terms] == [(1, "a", False), (2, "b", True)]
    assert terms[0][3] <= terms[1][2]
