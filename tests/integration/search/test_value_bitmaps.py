"""PostgreSQL's bitmaps of frequent metadata values: exactly their holders, and the totals."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import defaultdict
from typing import Any, cast

import pytest

from metaledger.api.bootstrap import Container
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.search.bitmaps import CHUNK_BITS
from metaledger.projections.search.postgres import PostgresSearchStore
from metaledger.projections.search.projector import Projector, rebuild
from metaledger.projections.search.store import (
    BITMAPS_TABLE,
    METADATA_TABLE,
    USERS_TABLE,
    VALUES_TABLE,
    SearchRequest,
    SearchStore,
)
from tests.integration.search.conftest import ACTOR, create, patch

DENSE = 3  # users that hold a value before it has bitmaps, in these tests
Holders = dict[tuple[str, str], set[int | None]]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def store(container: Container) -> PostgresSearchStore:
    postgres = cast(PostgresSearchStore, container.search)
    postgres.bitmaps = dataclasses.replace(postgres.bitmaps, dense_users=DENSE)
    return postgres


def rows(
    store: PostgresSearchStore, sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    with store.datastore.get_connection() as connection:
        return [tuple(row.values()) for row in connection.execute(sql, params)]


def in_bitmaps(store: PostgresSearchStore) -> Holders:
    """The users whose bits are set, by value: keys, or None for a slot no user has."""
    key_of = dict(rows(store, f"SELECT slot, key FROM {USERS_TABLE}"))
    holders: Holders = defaultdict(set)
    for path, text, chunk, bits in rows(
        store, f"SELECT path, text, chunk, bits::text FROM {BITMAPS_TABLE}"
    ):
        holders[path, text] |= {
            key_of.get(chunk * CHUNK_BITS + offset) for offset, bit in enumerate(bits) if bit == "1"
        }
    return dict(holders)


def in_entries(store: PostgresSearchStore) -> Holders:
    """The holders of every value that at least DENSE users hold, from the entries."""
    holders: Holders = defaultdict(set)
    for path, text, key in rows(store, f"SELECT path, text, key FROM {METADATA_TABLE}"):
        holders[path, text].add(key)
    return {value: keys for value, keys in holders.items() if len(keys) >= DENSE}


def counted_users(store: PostgresSearchStore) -> tuple[list[tuple[Any, ...]], ...]:
    """How many users hold each value: as recorded, and counted from the entries."""
    return (
        rows(store, f"SELECT path, text, users FROM {VALUES_TABLE} ORDER BY 1, 2"),
        rows(
            store,
            f"SELECT path, text, count(*) FROM {METADATA_TABLE} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
    )


def total(store: SearchStore, q: str) -> int | None:
    request = SearchRequest(store.translator.translate(q), limit=0, count_total=True)
    return store.search(request).total


def counted_by_bitmaps(store: PostgresSearchStore, q: str) -> tuple[int, bool]:
    """The bitmaps' total of a query, and whether it is complete (every value has bitmaps)."""
    sql = store.bitmaps.count(store.translator.translate(q))
    assert sql is not None
    [(counted, complete)] = rows(store, sql.text, sql.params)
    return int(counted), bool(complete)


def counted_from_entries(store: PostgresSearchStore, q: str) -> int:
    sql = store.statements.count(store.translator.translate(q))
    [(counted,)] = rows(store, sql.text, sql.params)
    return int(counted)


def plans(profiles: UserProfiles, projector: Projector, *plan_of_each: str) -> list[str]:
    user_ids = [
        create(profiles, f"user{number}", app_metadata={"plan": plan})
        for number, plan in enumerate(plan_of_each)
    ]
    projector.catch_up()
    return user_ids


def test_a_value_gets_bitmaps_once_enough_users_hold_it(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    plans(profiles, projector, "pro", "pro", "free")
    before = set(in_bitmaps(store))
    create(profiles, "third", app_metadata={"plan": "pro"})
    projector.catch_up()
    assert (before, in_bitmaps(store)) == (set(), in_entries(store))


def test_a_value_loses_its_bitmaps_when_too_few_users_hold_it(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    first, *_ = plans(profiles, projector, "pro", "pro", "pro")
    patch(profiles, first, app_metadata={"plan": "free"})
    projector.catch_up()
    assert in_bitmaps(store) == {}


def test_a_deleted_users_bits_are_cleared(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    first, *_ = plans(profiles, projector, "pro", "pro", "pro", "pro")
    profiles.delete_user(first, ACTOR)
    projector.catch_up()
    assert (in_bitmaps(store), len(in_entries(store)[("app_metadata.plan", "pro")])) == (
        in_entries(store),
        3,
    )


def random_history(profiles: UserProfiles, projector: Projector, seed: int) -> None:
    """Creations, plan and role changes, and deletions, projected a few events at a time."""
    rnd = random.Random(seed)
    live: list[str] = []
    for step in range(120):
        choice = rnd.random()
        if choice < 0.3 or not live:
            live.append(
                create(
                    profiles,
                    f"user{step}",
                    app_metadata={
                        "plan": rnd.choice(("free", "pro", "trial")),
                        "roles": rnd.sample(("admin", "editor", "viewer"), rnd.randint(0, 2)),
                    },
                )
            )
        elif choice < 0.6:
            patch(profiles, rnd.choice(live), app_metadata={"plan": rnd.choice(("free", "pro"))})
        elif choice < 0.85:
            roles = rnd.sample(("admin", "editor", "viewer"), rnd.randint(0, 3))
            patch(profiles, rnd.choice(live), app_metadata={"roles": roles})
        else:
            profiles.delete_user(live.pop(rnd.randrange(len(live))), ACTOR)
        if rnd.random() < 0.3:
            projector.catch_up()
    projector.catch_up()


def test_bitmaps_follow_a_history_of_changes_exactly(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    random_history(profiles, projector, seed=7)
    assert in_bitmaps(store) == in_entries(store)


def test_the_users_of_each_value_are_counted_through_a_history_of_changes(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    random_history(profiles, projector, seed=7)
    recorded, counted = counted_users(store)
    assert recorded == counted


QUERIES = [
    'app_metadata.plan:"pro"',
    'app_metadata.plan:"pro" AND app_metadata.roles:"admin"',
    "app_metadata.plan:free OR app_metadata.roles:editor",
    "(app_metadata.plan:pro OR app_metadata.plan:trial) AND app_metadata.roles:viewer",
    "app_metadata.roles:(admin AND editor) OR app_metadata.plan:pro",
]


@pytest.mark.parametrize("q", QUERIES)
def test_a_total_counted_on_bitmaps_equals_the_count_of_entries(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector, q: str
) -> None:
    random_history(profiles, projector, seed=11)
    assert (counted_by_bitmaps(store, q), total(store, q)) == (
        (counted_from_entries(store, q), True),
        counted_from_entries(store, q),
    )


def test_a_total_over_a_value_without_bitmaps_is_counted_from_the_entries(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    plans(profiles, projector, "pro", "pro", "pro", "trial")
    q = "app_metadata.plan:pro OR app_metadata.plan:trial"
    assert (counted_by_bitmaps(store, q)[1], total(store, q)) == (False, 4)


def test_bits_of_slots_on_both_sides_of_a_chunk_boundary_are_counted(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    with store.datastore.get_connection() as connection:
        connection.execute(f"ALTER TABLE {USERS_TABLE} ALTER COLUMN slot RESTART {CHUNK_BITS - 2}")
    plans(profiles, projector, "pro", "pro", "pro", "pro", "pro")
    chunks = rows(store, f"SELECT chunk FROM {BITMAPS_TABLE} ORDER BY chunk")
    assert (chunks, in_bitmaps(store), total(store, "app_metadata.plan:pro")) == (
        [(0,), (1,)],
        in_entries(store),
        5,
    )


def test_a_rebuild_builds_the_bitmaps_the_live_projector_built(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    random_history(profiles, projector, seed=13)
    incremental = in_bitmaps(store), counted_users(store)[0]
    rebuild(profiles, store)
    assert ((in_bitmaps(store), counted_users(store)[0]), incremental[0]) == (
        incremental,
        in_entries(store),
    )


def test_users_written_after_a_rebuild_take_slots_after_its_own(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    plans(profiles, projector, "pro", "pro")
    rebuild(profiles, store)
    create(profiles, "after", app_metadata={"plan": "pro"})
    projector.catch_up()
    slots = [slot for (slot,) in rows(store, f"SELECT slot FROM {USERS_TABLE} ORDER BY key")]
    assert (slots, in_bitmaps(store)) == ([1, 2, 3], in_entries(store))


def test_a_read_model_built_before_bitmaps_gets_slots_counts_and_bitmaps(
    profiles: UserProfiles, store: PostgresSearchStore, projector: Projector
) -> None:
    plans(profiles, projector, "pro", "pro", "pro")
    with store.datastore.get_connection() as connection:
        connection.execute(f"DROP TABLE {VALUES_TABLE}, {BITMAPS_TABLE}")
        connection.execute(f"ALTER TABLE {USERS_TABLE} DROP COLUMN slot")
    store.create_table()  # as each process does when it opens the store
    create(profiles, "fourth", app_metadata={"plan": "pro"})
    projector.catch_up()
    recorded, counted = counted_users(store)
    assert (recorded, in_bitmaps(store)) == (counted, in_entries(store))


def test_opening_the_store_does_not_wait_for_a_search_in_progress(
    store: PostgresSearchStore,
) -> None:
    with store.datastore.get_connection() as connection, connection.transaction():
        # Holds the users table as a search does, until the transaction ends.
        connection.execute(f"SELECT count(*) FROM {USERS_TABLE}")
        opening = threading.Thread(target=store.create_table)
        opening.start()
        opening.join(timeout=30)
        assert not opening.is_alive()
