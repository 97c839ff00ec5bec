"""The contract of a consumer's inbox (`Database` and `claim`), on SQLite and PostgreSQL.

A consumer claims each event id in the transaction that applies the event's effects: the first
claim succeeds and any later one is refused, so a redelivered event has no second effect. Claims
are per consumer, roll back with their transaction, and are durable and shared by every
`Database` opened on the same location.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from metaledger.api import stores
from metaledger.consumers.database import Database, claim
from metaledger.domain.storage import StoreLocation, store_location

INBOX_FILE = "inbox-test.sqlite3"


class HandlerFailed(Exception):
    """A handler's failure after it claimed the event."""


@pytest.fixture
def database(location: StoreLocation) -> Iterator[Database]:
    opened = stores.consumer_database(location, INBOX_FILE)
    yield opened
    opened.close()


@pytest.fixture
def another_database(location: StoreLocation, database: Database) -> Iterator[Database]:
    """A second database on the same location, as another process opens it."""
    opened = stores.consumer_database(location, INBOX_FILE)
    yield opened
    opened.close()


def claimed(database: Database, consumer: str, event_id: str) -> bool:
    """Whether `consumer` claims `event_id` in a transaction of its own, committed."""
    with database.transaction() as tx:
        return claim(tx, consumer, event_id)


def claim_then_fail(database: Database, consumer: str, event_id: str) -> None:
    with database.transaction() as tx:
        assert claim(tx, consumer, event_id)
        raise HandlerFailed


class ConsumerInboxContract:
    """What either backend's inbox must do. Subclasses set `backend`."""

    def test_the_first_claim_of_an_event_succeeds(self, database: Database) -> None:
        assert claimed(database, "entitlements", "event-1") is True

    def test_a_second_claim_of_an_event_is_refused(self, database: Database) -> None:
        claimed(database, "entitlements", "event-1")

        assert claimed(database, "entitlements", "event-1") is False

    def test_a_second_claim_in_the_same_transaction_is_refused(self, database: Database) -> None:
        with database.transaction() as tx:
            claim(tx, "entitlements", "event-1")

            assert claim(tx, "entitlements", "event-1") is False

    def test_claims_of_other_events_are_independent(self, database: Database) -> None:
        claimed(database, "entitlements", "event-1")

        assert claimed(database, "entitlements", "event-2") is True

    def test_claims_are_per_consumer(self, database: Database) -> None:
        claimed(database, "entitlements", "event-1")

        assert claimed(database, "audit", "event-1") is True

    def test_a_claim_rolled_back_with_its_transaction_can_be_claimed_again(
        self, database: Database
    ) -> None:
        with pytest.raises(HandlerFailed):
            claim_then_fail(database, "entitlements", "event-1")

        assert claimed(database, "entitlements", "event-1") is True

    def test_another_database_on_the_same_location_sees_committed_claims(
        self, database: Database, another_database: Database
    ) -> None:
        claimed(database, "entitlements", "event-1")

        assert claimed(another_database, "entitlements", "event-1") is False


class TestOnSQLite(ConsumerInboxContract):
    backend = "sqlite"


class TestOnPostgres(ConsumerInboxContract):
    backend = "postgres"


def test_on_postgres_the_inbox_lives_in_the_schema_the_url_names(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("CREATE SCHEMA consumers")
    location = store_location(f"{postgres_url}?schema=consumers", Path("unused"))
    database = stores.consumer_database(location, INBOX_FILE)
    try:
        with database.transaction() as tx:
            assert claim(tx, "entitlements", "event-1")
    finally:
        database.close()
    with psycopg.connect(postgres_url) as admin:
        (schema,) = admin.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'consumer_inbox'"
        ).fetchone() or (None,)
    assert schema == "consumers"
