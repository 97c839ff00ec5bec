"""Erasure through the HTTP API reaches every file metaledger writes: once the read model has
applied it, no byte of the user's personal data is left under the data directory (SQLite), nor
in a dump or in any row version, live or dead, of the database (PostgreSQL)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from metaledger.api.stores import SEARCH_FILE
from metaledger.domain.user import user_aggregate_id
from metaledger.projections.search.projector import Projector
from metaledger.projections.search.store import wait_for
from tests.conftest import admin_token
from tests.integration.history.conftest import ACTOR, create, patch
from tests.support.at_rest import everything_stored, found
from tests.support.audit import audit_caught_up
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

EMAIL = "zqx.erasure.marker@example.com"
CREATED = {
    "connection": "Username-Password-Authentication",
    "password": PASSWORD,
    "email": EMAIL,
    "given_name": "zqxgivenname",
    "family_name": "zqxfamilyname",
    "name": "zqx full name marker",
    "nickname": "zqxnickmarker",
    "phone_number": "+15550147258",
    "user_metadata": {"hobby": "zqx-hobby-falconry", "address": {"street": "zqx-hidden-lane"}},
    "app_metadata": {"plan": "zqx-plan-platinum", "roles": ["zqx-role-auditor"]},
}
PATCHES = [
    {"user_metadata": {"hobby": "zqx-hobby-kitesurfing"}},
    {"app_metadata": {"plan": "zqx-plan-gold", "customer_no": 918273645}},
    {"name": "zqx renamed marker", "user_metadata": {"address": {"street": "zqx-other-lane"}}},
]
MARKERS = [
    marker.encode()
    for marker in (
        EMAIL,
        *(str(CREATED[field]) for field in ("given_name", "family_name", "name", "nickname")),
        "5550147258",
        "zqx-hobby-falconry",
        "zqx-hidden-lane",
        "zqx-plan-platinum",
        "zqx-role-auditor",
        "zqx-hobby-kitesurfing",
        "zqx-plan-gold",
        "918273645",
        "zqx renamed marker",
        "zqx-other-lane",
        hashlib.md5(EMAIL.encode(), usedforsecurity=False).hexdigest(),  # in the picture URL
    )
]


def written_and_erased(server: RunningServer, container: Container) -> list[bytes]:
    """A user with markers everywhere, patched, projected, then erased and projected again;
    returns the markers and the user's key, which the erasure destroyed."""
    token = admin_token(server.base_url)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        created = http.post("/api/v2/users", json=CREATED)
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        for body in PATCHES:
            assert http.patch(f"/api/v2/users/{user_id}", json=body).status_code == 200
        caught_up(container)
        key = container.profiles.keys.record(user_aggregate_id(user_id))
        assert key is not None
        assert key.key is not None
        personal = [*MARKERS, key.key]
        assert found(everything_stored(container.settings), personal)  # they were written
        erased = http.delete(f"/api/v2/users/{user_id}", params={"erase": "true"})
        assert erased.status_code == 204
        caught_up(container)
        # The projector clears its files after the erasing batch's position is visible: once
        # it applied a later batch, it finished that one.
        later = {
            "connection": CREATED["connection"],
            "password": PASSWORD,
            "email": "later@example.com",
        }
        assert http.post("/api/v2/users", json=later).status_code == 201
        caught_up(container)
    return personal


def caught_up(container: Container) -> None:
    end = container.profiles.recorder.max_notification_id() or 0
    assert wait_for(container.search, end, timeout=30)
    audit_caught_up(container)


def test_after_an_erasure_no_file_or_row_version_holds_the_users_personal_data(
    container: Container,
) -> None:
    with RunningServer(container) as server:
        personal = written_and_erased(server, container)
        assert found(everything_stored(container.settings), personal) == {}  # still running
    assert found(everything_stored(container.settings), personal) == {}  # stopped


def test_a_user_deleted_earlier_and_erased_later_leaves_no_trace(container: Container) -> None:
    profiles = container.profiles
    projector = Projector(profiles, container.search)
    user_id = create(profiles, {"email": EMAIL}, user_metadata={"hobby": "zqx-hobby-falconry"})
    projector.catch_up()
    profiles.delete_user(user_id, ACTOR)
    projector.catch_up()  # the user leaves the read model; the erasure finds no row of it
    profiles.delete_user(user_id, ACTOR, erase=True)
    projector.catch_up()

    assert found(everything_stored(container.settings), MARKERS) == {}


@pytest.mark.parametrize("database_url", [None])
def test_an_erasure_clears_earlier_versions_from_a_read_model_that_keeps_freed_cells(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connections as a SQLite built without SQLITE_SECURE_DELETE opens them (Debian's has it):
    # the cells an update frees keep the old values unless the writer zeroes them.
    connect = SQLiteConnectionPool._create_connection

    def without_secure_delete(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = connect(pool)
        connection.cursor().execute("PRAGMA secure_delete = OFF")
        return connection

    monkeypatch.setattr(SQLiteConnectionPool, "_create_connection", without_secure_delete)
    container = build_http(settings)
    profiles = container.profiles
    projector = Projector(profiles, container.search)
    erased = create(profiles, {"email": EMAIL}, user_metadata={"hobby": "zqx-hobby-falconry"})
    others = [create(profiles, {"email": f"other{n}@example.com"}) for n in range(5)]
    projector.catch_up()
    # Between the erased user's updates, the others' rows move in beside its freed cells.
    for number, hobby in enumerate(("zqx-hobby-kitesurfing", "zqx-other-lane" * 4)):
        patch(profiles, erased, user_metadata={"hobby": hobby})
        projector.catch_up()
        for other in others:
            patch(profiles, other, user_metadata={"bio": "x" * (200 + 30 * number)})
        projector.catch_up()
    profiles.delete_user(erased, ACTOR, erase=True)
    projector.catch_up()

    read_model = {
        path.name: path.read_bytes() for path in settings.data_dir.glob(f"{SEARCH_FILE}*")
    }
    assert found(read_model, MARKERS) == {}
