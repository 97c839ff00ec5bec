"""The two sources of a users export, on SQLite and PostgreSQL: an export of the present read
from the search read model writes the very file that a replay of the event log writes, for the
same history (users patched, given and stripped of attributes, logged in, blocked, deleted,
erased, of two connections), in both formats, with and without fields; and which source an
export takes.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metaledger.api import stores
from metaledger.api.jobs import ExportSource
from metaledger.domain.actor import Actor
from metaledger.domain.exports import ExportField, documents_in_log, write_export
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from metaledger.domain.storage import StoreLocation
from metaledger.projections.search.exports import documents_in_read_model
from metaledger.projections.search.projector import Projector
from metaledger.projections.search.store import SearchStore

ACTOR = Actor(kind="client", id="export-contract", grant="client-credentials")
FIELDS = [
    ExportField("user_id"),
    ExportField("email", "Email"),
    ExportField("blocked"),
    ExportField("user_metadata.address.city", "city"),
    ExportField("app_metadata.roles"),
    ExportField("logins_count"),
    ExportField("last_login"),
]
# Only keeps a broken projector from hanging the test: projecting a user takes milliseconds.
WAIT_SECONDS = 60
# The users the seeded history leaves, in creation order.
LIVE = ["auth0|ada", "auth0|bob", "auth0|dee", "auth0|fay"]


def seed(profiles: UserProfiles, other_connection: str) -> None:
    """A history with every kind of change an export must show, or leave out."""

    def create(user_id: str, connection: str = DEFAULT_CONNECTION, **new: Any) -> None:
        profile = {"email": f"{user_id}@example.com", **new.pop("profile", {})}
        user = NewUser(connection=connection, user_id=user_id, profile=profile, **new)
        profiles.create_user(user, ACTOR)

    def update(user_id: str, **update: Any) -> None:
        profiles.update_user(f"auth0|{user_id}", UserUpdate(**update), ACTOR)

    create(
        "ada",
        profile={"given_name": "Ada", "nickname": "ada"},
        user_metadata={"theme": "dark", "address": {"city": "London"}},
        app_metadata={"plan": "pro", "roles": ["admin"]},
        password="a-long-password-1",
    )
    create("bob", app_metadata={"plan": "free"})
    create("cy", user_metadata={"secret": "erased with cy"})
    create("dee", connection=other_connection, profile={"name": "Dee"})
    create("eve", user_metadata={"unicode": "ünïcødé ✓", "n": 1.5})
    update("ada", buckets={"user_metadata": {"address": {"city": "Paris"}, "theme": None}})
    update("ada", profile={"blocked": True, "nickname": None})
    update("bob", buckets={"app_metadata": {"plan": "pro", "roles": ["viewer", "billing"]}})
    profiles.record_login("auth0|dee", "192.0.2.7", "client-1", ACTOR)
    profiles.delete_user("auth0|eve", ACTOR)
    profiles.delete_user("auth0|cy", ACTOR, erase=True)
    create("fay", app_metadata={"plan": "enterprise"})


def ids(documents: Iterator[dict[str, Any]]) -> list[str]:
    return [document["user_id"] for document in documents]


def exported(
    tmp_path: Path,
    documents: Iterator[dict[str, Any]],
    file_format: str,
    fields: list[ExportField],
) -> bytes:
    path = tmp_path / f"export.{file_format}.gz"
    write_export(path, file_format, fields, documents)
    return gzip.decompress(path.read_bytes())


def project_all(projector: Projector) -> int:
    """Applies every event recorded so far; the log's end."""
    while projector.project_batch():
        pass
    return projector.position()


@pytest.fixture
def store(location: StoreLocation) -> Iterator[SearchStore]:
    with contextlib.closing(stores.search_store(location)) as opened:
        yield opened


@pytest.fixture
def end(profiles: UserProfiles, store: SearchStore, second_connection: str) -> int:
    """The log's end once the history is seeded and projected."""
    seed(profiles, second_connection)
    return project_all(Projector(profiles, store))


class ExportSourcesContract:
    """What an export from either backend's read model must write. Subclasses set `backend`."""

    @pytest.mark.parametrize("file_format", ["json", "csv"])
    @pytest.mark.parametrize("fields", [[], FIELDS], ids=["whole users", "named fields"])
    def test_an_export_from_the_read_model_writes_the_file_the_replay_writes(
        self,
        profiles: UserProfiles,
        store: SearchStore,
        end: int,
        tmp_path: Path,
        file_format: str,
        fields: list[ExportField],
    ) -> None:
        from_read_model = exported(
            tmp_path, documents_in_read_model(store, end), file_format, fields
        )

        assert from_read_model == exported(
            tmp_path, documents_in_log(profiles), file_format, fields
        )

    def test_an_export_of_one_connection_from_the_read_model_equals_the_replay(
        self,
        profiles: UserProfiles,
        store: SearchStore,
        end: int,
        tmp_path: Path,
        second_connection: str,
    ) -> None:
        documents = documents_in_read_model(store, end, second_connection)
        replayed = documents_in_log(profiles, second_connection)

        assert ids(documents) == ids(replayed)

    def test_the_read_model_leaves_out_deleted_and_erased_users_and_keeps_creation_order(
        self, store: SearchStore, end: int
    ) -> None:
        assert ids(documents_in_read_model(store, end)) == LIVE

    def test_users_created_after_the_exports_start_are_left_out(
        self, profiles: UserProfiles, store: SearchStore, end: int
    ) -> None:
        profiles.create_user(NewUser(DEFAULT_CONNECTION, {"email": "late@example.com"}), ACTOR)
        project_all(Projector(profiles, store))

        assert ids(documents_in_read_model(store, end)) == LIVE

    def test_an_export_replays_the_log_when_the_read_model_has_not_reached_its_end(
        self, profiles: UserProfiles, store: SearchStore, end: int
    ) -> None:
        profiles.create_user(NewUser(DEFAULT_CONNECTION, {"email": "late@example.com"}), ACTOR)

        documents = ExportSource(store, wait_seconds=0).documents(profiles, None, None)

        assert [row.get("email") for row in documents][-1] == "late@example.com"

    def test_an_export_waits_for_the_read_model_to_reach_the_logs_end(
        self, profiles: UserProfiles, store: SearchStore, end: int
    ) -> None:
        profiles.create_user(NewUser(DEFAULT_CONNECTION, {"email": "late@example.com"}), ACTOR)
        projecting = threading.Thread(target=project_all, args=(Projector(profiles, store),))
        # The projector starts once the export has seen the read model behind.
        pages = PagesRead(store, first_look=projecting.start)

        documents = list(ExportSource(pages, WAIT_SECONDS).documents(profiles, None, None))
        projecting.join()

        assert (pages.read, documents[-1].get("email")) == (2, "late@example.com")

    def test_an_export_reads_the_read_model_once_it_has_reached_the_logs_end(
        self, profiles: UserProfiles, store: SearchStore, end: int
    ) -> None:
        pages = PagesRead(store)

        documents = list(ExportSource(pages, wait_seconds=0).documents(profiles, None, None))

        assert (pages.read, len(documents)) == (2, 4)  # a page of users, then an empty one

    def test_an_export_as_of_a_moment_replays_the_log(
        self, profiles: UserProfiles, store: SearchStore, end: int
    ) -> None:
        pages = PagesRead(store)

        ExportSource(pages, wait_seconds=0).documents(profiles, None, datetime.now(UTC))

        assert pages.read == 0


class PagesRead:
    """The read model, counting the export pages read from it; `first_look` is called once the
    first position read from it is taken."""

    def __init__(self, store: SearchStore, first_look: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.read = 0
        self.first_look: Callable[[], None] | None = first_look

    def position(self) -> int | None:
        seen = self.store.position()
        if self.first_look is not None:
            self.first_look()
            self.first_look = None
        return seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def states_after(self, *page: Any) -> list[tuple[int, bytes]]:
        self.read += 1
        return self.store.states_after(*page)


class TestOnSQLite(ExportSourcesContract):
    backend = "sqlite"


class TestOnPostgres(ExportSourcesContract):
    backend = "postgres"
