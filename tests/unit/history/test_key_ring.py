"""The key ring: users' keys loaded from the key table, cached briefly."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from metaledger.domain.ports import KeyRecord
from metaledger.domain.storage.shredding import KeyRing

KEY = bytes(range(32))


class CountingTable:
    def __init__(self, rows: dict[UUID, KeyRecord]) -> None:
        self.rows = rows
        self.queries: list[list[UUID]] = []

    def load(self, ids: Sequence[UUID]) -> dict[UUID, KeyRecord]:
        self.queries.append(sorted(ids))
        return {id_: self.rows[id_] for id_ in ids if id_ in self.rows}


def test_a_cached_key_is_not_loaded_twice() -> None:
    user = uuid4()
    table = CountingTable({user: KeyRecord("auth0|a", KEY)})
    ring = KeyRing(table.load)
    assert ring.cipher(user) is not None
    assert ring.cipher(user) is not None
    assert len(table.queries) == 1


def test_a_missing_key_is_asked_for_again() -> None:
    user = uuid4()
    table = CountingTable({})
    ring = KeyRing(table.load)
    assert ring.record(user) is None
    table.rows[user] = KeyRecord("auth0|a", KEY)
    assert ring.record(user) == KeyRecord("auth0|a", KEY)


def test_a_destroyed_key_gives_no_cipher_but_keeps_the_user_id() -> None:
    user = uuid4()
    ring = KeyRing(CountingTable({user: KeyRecord("auth0|a", None)}).load)
    assert ring.cipher(user) is None
    assert ring.record(user) == KeyRecord("auth0|a", None)


def test_a_forgotten_key_is_read_afresh() -> None:
    user = uuid4()
    table = CountingTable({user: KeyRecord("auth0|a", KEY)})
    ring = KeyRing(table.load)
    ring.cipher(user)
    table.rows[user] = KeyRecord("auth0|a", None)
    ring.forget(user)
    assert ring.cipher(user) is None


def test_an_expired_key_is_read_afresh() -> None:
    user = uuid4()
    table = CountingTable({user: KeyRecord("auth0|a", KEY)})
    ring = KeyRing(table.load, ttl_seconds=0)
    ring.cipher(user)
    ring.cipher(user)
    assert len(table.queries) == 2


def test_a_lookup_loads_only_the_uncached_keys_in_one_query() -> None:
    cached, first, second = uuid4(), uuid4(), uuid4()
    table = CountingTable({id_: KeyRecord(str(id_), KEY) for id_ in (cached, first, second)})
    ring = KeyRing(table.load)
    ring.cipher(cached)
    entries = ring.lookup([cached, first, second, first])
    assert table.queries[1] == sorted([first, second])
    assert len(table.queries) == 2
    assert set(entries) == {cached, first, second}
    assert entries[second].record == KeyRecord(str(second), KEY)


def test_a_lookup_answers_for_users_without_a_key() -> None:
    unknown = uuid4()
    entry = KeyRing(CountingTable({}).load).lookup([unknown])[unknown]
    assert (entry.record, entry.cipher) == (None, None)


def test_the_cache_keeps_at_most_maxsize_keys() -> None:
    users = [uuid4() for _ in range(3)]
    table = CountingTable({id_: KeyRecord(str(id_), KEY) for id_ in users})
    ring = KeyRing(table.load, maxsize=2)
    for user in users:
        ring.cipher(user)
    ring.cipher(users[0])
    assert len(table.queries) == 4


def test_keys_looked_up_together_are_served_from_the_cache() -> None:
    first, second = uuid4(), uuid4()
    table = CountingTable({id_: KeyRecord(str(id_), KEY) for id_ in (first, second)})
    ring = KeyRing(table.load)
    ring.lookup([first, second])
    assert ring.cipher(first) is not None
    assert ring.cipher(second) is not None
    assert len(table.queries) == 1
