"""Crypto-shredding: every user's personal data sealed under a key of its own.

The library's cipher sees only bytes and encrypts with one key per application, so sealing is
done by a custom mapper (`Application.construct_mapper`). Each stored event or snapshot is split
in two: a plain header that must stay readable after erasure — the envelope (time, topics),
the actor and the user id — and the personal fields (profile, metadata, patches, changes,
login details, and any field a future event adds), encrypted with AES-256-GCM under the user's
key. A UserDeleted carries no personal field, so it is stored in the clear and relays and
projections can always read it.

The actor is deliberately kept in the clear: the audit trail (who changed what, when) outlives
the erasure of the subject's data; for an end user acting on their own profile it holds their
user id and source IP.

When the key is destroyed, the sealed part can no longer be decrypted and events decode as
ordinary event objects whose personal fields read as blanks (`{}`, `[]`, `""`, `0`, None) and
whose `erased` attribute is True, so replays, history and projections keep working.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import CanInitAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    EventStore,
    Mapper,
    MapperDeserialisationError,
    Recording,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from metaledger.domain.erasure import ERASED
from metaledger.domain.ports import KeyRecord
from metaledger.domain.storage.transcoder import OrjsonTranscoder
from metaledger.domain.storage.user_keys import NewKey
from metaledger.domain.upcasting import upcast

# Fields that stay readable after erasure; every other field is personal and sealed.
PLAIN_FIELDS = frozenset(
    {
        "timestamp",
        "originator_topic",
        "topic",
        "class_version",
        "actor",
        "user_id",
        "connection",
        "deleted",
        ERASED,
        "_created_on",
        "_modified_on",
    }
)
# A snapshot keeps the aggregate's attributes in one field: they are split one by one.
NESTED_FIELD = "state"
# A sealed state: SEALED, then three parts each after its length (4 bytes): the plain fields,
# the blanks (what each personal field reads as once the key is gone), and the nonce and
# ciphertext of the personal fields (empty under a destroyed key).
SEALED = b"\x01"  # a plain JSON state starts with "{"
NONCE_BYTES = 12
KEY_CACHE_SECONDS = 5.0
KEY_CACHE_SIZE = 100_000


class UserKeyMissingError(Exception):
    """An event of a user whose key row does not exist was about to be sealed."""


@dataclass(frozen=True)
class SealedStoredEvent(StoredEvent):
    """A stored event and what the recorder writes beside it in the same transaction."""

    recorded_at: datetime
    new_key: NewKey | None = None
    destroys_key: bool = False


KeyLoader = Callable[[Sequence[UUID]], dict[UUID, KeyRecord]]


class KeyEntry(NamedTuple):
    record: KeyRecord | None  # None: no key row
    cipher: AESGCM | None  # None: no key row, or the key was destroyed


class KeyRing:
    """Users' keys, loaded from the key table and cached for a few seconds.

    The cache is short-lived so that a key destroyed by another process stops being used
    soon; readers that must not show erased data (history, time travel) `forget` first.
    """

    def __init__(
        self,
        load: KeyLoader,
        ttl_seconds: float = KEY_CACHE_SECONDS,
        maxsize: int = KEY_CACHE_SIZE,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: OrderedDict[UUID, tuple[float, KeyEntry]] = OrderedDict()

    def record(self, aggregate_id: UUID) -> KeyRecord | None:
        """The user's key row, or None when there is none."""
        return self.lookup([aggregate_id])[aggregate_id].record

    def cipher(self, aggregate_id: UUID) -> AESGCM | None:
        """The user's cipher, or None when the key was destroyed (or never existed)."""
        return self.lookup([aggregate_id])[aggregate_id].cipher

    def lookup(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, KeyEntry]:
        """The entries of `aggregate_ids`, loading those not cached in one query."""
        found: dict[UUID, KeyEntry] = {}
        missing = []
        now = time.monotonic()
        with self._lock:
            for aggregate_id in set(aggregate_ids):
                cached = self._entries.get(aggregate_id)
                if cached is not None and now - cached[0] < self._ttl:
                    found[aggregate_id] = cached[1]
                else:
                    missing.append(aggregate_id)
        if missing:
            found.update(self._load_entries(missing))
        return found

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._entries.pop(aggregate_id, None)

    def _load_entries(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, KeyEntry]:
        records = self._load(aggregate_ids)
        loaded = {id_: KeyEntry(None, None) for id_ in aggregate_ids}
        now = time.monotonic()
        with self._lock:
            # A missing row is not cached: the user may be created a moment later.
            for aggregate_id, record in records.items():
                entry = KeyEntry(record, AESGCM(record.key) if record.key else None)
                loaded[aggregate_id] = entry
                self._entries[aggregate_id] = (now, entry)
                self._entries.move_to_end(aggregate_id)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return loaded


class ShreddingMapper(Mapper[UUID]):
    """Seals the personal fields of each event under its user's key (see the module doc)."""

    def __init__(self, transcoder: OrjsonTranscoder, keys: KeyRing) -> None:
        super().__init__(transcoder)
        self.keys = keys
        # The keys made while one save's events are mapped, for that save's later events of
        # the same users: their rows are written by the same transaction.
        self._new_keys: ContextVar[dict[UUID, AESGCM] | None] = ContextVar("new_keys", default=None)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Maps the events of one save together (see `SealingEventStore`)."""
        token = self._new_keys.set({})
        try:
            yield
        finally:
            self._new_keys.reset(token)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> SealedStoredEvent:
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        originator_id: UUID = state.pop("originator_id")
        version: int = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        plain, personal, blanks = split(state)
        destroys_key = plain.get(ERASED) is True
        if destroys_key:
            # A snapshot taken right after this event must not be sealed with the old key.
            self.keys.forget(originator_id)
        new_key = None
        if not personal:
            data = self.transcoder.encode(plain)
        else:
            if isinstance(domain_event, CanInitAggregate):
                key = AESGCM.generate_key(bit_length=256)
                new_key = NewKey(originator_id, str(state["user_id"]), key)
                fresh = AESGCM(key)
                new_keys = self._new_keys.get()
                if new_keys is not None:
                    new_keys[originator_id] = fresh
                cipher: AESGCM | None = fresh
            else:
                cipher = self._cipher_for_writing(originator_id)
            sealed = b""  # under a destroyed key the personal part is simply not written
            if cipher is not None:
                nonce = os.urandom(NONCE_BYTES)
                aad = associated_data(originator_id, version, topic)
                sealed = nonce + cipher.encrypt(nonce, self.transcoder.encode(personal), aad)
            parts = (self.transcoder.encode(plain), self.transcoder.encode(blanks), sealed)
            data = SEALED + b"".join(len(part).to_bytes(4, "big") + part for part in parts)
        return SealedStoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=data,
            recorded_at=state["timestamp"],
            new_key=new_key,
            destroys_key=destroys_key,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if stored_event.state[:1] != SEALED:
            return super().to_domain_event(stored_event)
        originator_id = cast(UUID, stored_event.originator_id)
        return self._unseal(stored_event, self.keys.cipher(originator_id))

    def batch_decoder(
        self, stored_events: Iterable[StoredEvent]
    ) -> Callable[[StoredEvent], DomainEventProtocol[UUID]]:
        """`to_domain_event` for a batch: its users' keys are looked up once, in one query,
        rather than once per event."""
        keys = self.keys.lookup(cast(UUID, event.originator_id) for event in stored_events)

        def decode(stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
            entry = keys.get(cast(UUID, stored_event.originator_id))
            if entry is None or stored_event.state[:1] != SEALED:
                return self.to_domain_event(stored_event)
            return self._unseal(stored_event, entry.cipher)

        return decode

    def _unseal(
        self, stored_event: StoredEvent, cipher: AESGCM | None
    ) -> DomainEventProtocol[UUID]:
        originator_id = cast(UUID, stored_event.originator_id)
        version = stored_event.originator_version
        state = self.decode_state(
            originator_id, version, stored_event.topic, stored_event.state, cipher
        )
        return _construct(stored_event, state)

    def decode_state(
        self, originator_id: UUID, version: int, topic: str, data: bytes, cipher: AESGCM | None
    ) -> dict[str, Any]:
        """A stored event's fields, unsealed with `cipher`, or blanks and `erased` without it."""
        if data[:1] != SEALED:
            plain: dict[str, Any] = self.transcoder.decode(data)
            return plain
        plain_end = 5 + int.from_bytes(data[1:5], "big")
        blanks_end = plain_end + 4 + int.from_bytes(data[plain_end : plain_end + 4], "big")
        state: dict[str, Any] = self.transcoder.decode(data[5:plain_end])
        sealed = data[blanks_end + 4 :]
        if cipher is None or not sealed:
            join(state, self.transcoder.decode(data[plain_end + 4 : blanks_end]))
            state[ERASED] = True
            return state
        aad = associated_data(originator_id, version, topic)
        try:
            plaintext = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag as error:
            raise MapperDeserialisationError(
                f"sealed payload of {originator_id} v{version} "
                "does not authenticate under the user's key"
            ) from error
        # Plain JSON: the only datetimes the transcoder restores are plain fields.
        join(state, orjson.loads(plaintext))
        return state

    def _cipher_for_writing(self, aggregate_id: UUID) -> AESGCM | None:
        new_keys = self._new_keys.get()
        if new_keys and aggregate_id in new_keys:
            return new_keys[aggregate_id]
        entry = self.keys.lookup([aggregate_id])[aggregate_id]
        if entry.record is None:
            raise UserKeyMissingError(str(aggregate_id))
        return entry.cipher


class SealingEventStore(EventStore[UUID]):
    """Maps each save's events as one batch, so that events following a user's creation in
    the same save are sealed with the key that save brings."""

    mapper: ShreddingMapper

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        with self.mapper.batch():
            return super().put(domain_events, **kwargs)


def split(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(plain fields, personal fields, blanks standing in for the personal fields)."""
    plain: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    blanks: dict[str, Any] = {}
    for name, value in state.items():
        if name in PLAIN_FIELDS:
            plain[name] = value
        elif name == NESTED_FIELD and isinstance(value, dict):
            plain[name], nested, blanks[name] = split(value)
            if nested:
                personal[name] = nested
        else:
            personal[name] = value
            blanks[name] = blank(value)
    return plain, personal, blanks


def join(state: dict[str, Any], part: dict[str, Any]) -> None:
    """Puts the personal fields (or their blanks) back into the plain ones."""
    for name, value in part.items():
        if name == NESTED_FIELD and isinstance(state.get(name), dict):
            state[name].update(value)
        else:
            state[name] = value


def blank(value: Any) -> Any:
    """What a sealed value reads as once erased: an empty value of the same JSON type."""
    if isinstance(value, dict):
        return {}
    if isinstance(value, list | tuple):
        return []
    if isinstance(value, str | bool | int | float):
        return type(value)()
    return None


def associated_data(originator_id: UUID, version: int, topic: str) -> bytes:
    """Binds a sealed payload to its row, so it cannot be moved to another user or version."""
    return originator_id.bytes + version.to_bytes(8, "big") + topic.encode()


def _construct(stored_event: StoredEvent, state: dict[str, Any]) -> DomainEventProtocol[UUID]:
    """The event object, built the way the library's Mapper builds it (ids, upcasting)."""
    cls = resolve_topic(stored_event.topic)
    id_convertor = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
    state["originator_id"] = id_convertor(stored_event.originator_id)
    state["originator_version"] = stored_event.originator_version
    upcast(cls, state)
    domain_event: DomainEventProtocol[UUID] = object.__new__(cls)
    object.__setattr__(domain_event, "__dict__", state)
    return domain_event
