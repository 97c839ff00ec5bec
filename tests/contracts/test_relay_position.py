"""The contract of the relay's position (`RelayPosition`), on SQLite and PostgreSQL.

The position is the last event the broker acknowledged: it only moves forward, a position not
past the recorded one is refused (another relay on the same store got there first), and it is
durable and shared by every relay that opens the same store. It is kept apart from the search
read model's position, although both follow the same application's log.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from metaledger.api import stores
from metaledger.domain.storage import StoreLocation
from metaledger.projections.relay.position import RelayPosition
from metaledger.projections.search.store import Batch, SearchStore


@pytest.fixture
def position(location: StoreLocation) -> Iterator[RelayPosition]:
    opened = stores.relay_position(location)
    yield opened
    opened.close()


@pytest.fixture
def another_position(location: StoreLocation, position: RelayPosition) -> Iterator[RelayPosition]:
    """A second relay's position on the same location, as another process opens it."""
    opened = stores.relay_position(location)
    yield opened
    opened.close()


@pytest.fixture
def search_store(location: StoreLocation) -> Iterator[SearchStore]:
    opened = stores.search_store(location)
    yield opened
    opened.close()


class RelayPositionContract:
    """What either backend's relay position must do. Subclasses set `backend`."""

    def test_a_new_position_is_zero(self, position: RelayPosition) -> None:
        assert position.current() == 0

    def test_a_recorded_position_is_the_current_one(self, position: RelayPosition) -> None:
        position.record(5)

        assert position.current() == 5

    def test_a_later_position_moves_the_current_one_on(self, position: RelayPosition) -> None:
        position.record(5)

        position.record(9)

        assert position.current() == 9

    def test_recording_the_current_position_again_is_refused(self, position: RelayPosition) -> None:
        position.record(5)

        with pytest.raises(IntegrityError):
            position.record(5)

    def test_recording_a_position_before_the_current_one_is_refused_and_keeps_it(
        self, position: RelayPosition
    ) -> None:
        position.record(5)

        with pytest.raises(IntegrityError):
            position.record(3)
        assert position.current() == 5

    def test_another_relay_on_the_same_location_sees_the_recorded_position(
        self, position: RelayPosition, another_position: RelayPosition
    ) -> None:
        position.record(5)

        assert another_position.current() == 5

    def test_another_relay_cannot_record_a_position_one_already_recorded(
        self, position: RelayPosition, another_position: RelayPosition
    ) -> None:
        position.record(5)

        with pytest.raises(IntegrityError):
            another_position.record(5)

    def test_the_search_read_models_position_leaves_the_relays_alone(
        self, position: RelayPosition, search_store: SearchStore
    ) -> None:
        position.record(3)

        search_store.apply(Batch(position=8))

        assert (position.current(), search_store.position()) == (3, 8)

    def test_a_rewound_position_is_current_and_moves_forward_again(
        self, position: RelayPosition, another_position: RelayPosition
    ) -> None:
        position.record(5)
        position.record(9)
        position.rewind(3)
        assert (position.current(), another_position.current()) == (3, 3)
        position.record(4)
        assert position.current() == 4

    def test_rewinding_to_zero_starts_from_the_first_event(self, position: RelayPosition) -> None:
        position.record(7)
        position.rewind(0)
        assert position.current() == 0
        position.record(1)
        assert position.current() == 1


class TestOnSQLite(RelayPositionContract):
    backend = "sqlite"


class TestOnPostgres(RelayPositionContract):
    backend = "postgres"
