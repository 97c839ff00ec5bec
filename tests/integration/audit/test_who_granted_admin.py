""" "Who granted admin to whom, and when?" answered by the audit read model (the store, the HTTP
API with its CSV export, and `metaledger audit`) equals the answer of a brute-force fold of the
whole event log, over a seeded history with several actors."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime
from typing import Any

import httpx
import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.cli.audit import run
from metaledger.api.cli.main import parser
from metaledger.api.cli.search import rebuild
from metaledger.domain.actor import Actor
from metaledger.domain.application import batch_decoder
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserUpdate
from metaledger.domain.timeline import entry_for
from metaledger.domain.user import User
from metaledger.projections.audit.projector import AuditProjector
from metaledger.projections.audit.records import instant
from metaledger.projections.audit.store import ChangeQuery, Cursor
from tests.support.audit import audit_caught_up
from tests.support.server import RunningServer

ROLES_KEY = "app_metadata.roles"
ACTORS = [
    Actor(kind="client", id="admin-console", grant="client-credentials"),
    Actor(kind="client", id="billing-service", grant="client-credentials"),
    Actor(kind="client", id="support-tool", grant="client-credentials"),
]
USERS = 25
CHANGES = 150
Grant = tuple[str, str, int]  # user id, actor id, version


def seed_history(container: Container) -> list[str]:
    """Users created with or without roles, then role and plan changes by random actors."""
    profiles = container.profiles
    chance = random.Random(18)
    user_ids = []
    for number in range(USERS):
        roles = chance.choice([[], ["viewer"], ["admin"], ["viewer", "editor"]])
        new = NewUser(
            connection=DEFAULT_CONNECTION,
            profile={"email": f"user{number}@example.com"},
            app_metadata={"roles": roles} if roles else {},
        )
        user_ids.append(profiles.create_user(new, chance.choice(ACTORS)).user.user_id)
    for _ in range(CHANGES):
        user_id = chance.choice(user_ids)
        roles = profiles.get_user(user_id).app_metadata.get("roles") or []
        patch: dict[str, Any] | None
        move = chance.random()
        if move < 0.4:
            patch = {"roles": sorted(set(roles) | {"admin"})}
        elif move < 0.7:
            patch = {"roles": [role for role in roles if role != "admin"] or None}
        elif move < 0.8:
            patch = None  # the whole bucket cleared
        else:
            patch = {"plan": chance.choice(["free", "pro"]), "roles": ["admin", *roles][:2]}
        update = UserUpdate(buckets={"app_metadata": patch})
        profiles.update_user(user_id, update, chance.choice(ACTORS))
    return user_ids


def granted_by_folding_the_log(container: Container, since: datetime | None = None) -> set[Grant]:
    """Every change that gave a user the admin role, read off every event in the log."""
    profiles = container.profiles
    notifications = profiles.recorder.select_notifications(0, 1_000_000)
    decode = batch_decoder(profiles.mapper, notifications)
    grants = set()
    user_ids: dict[Any, str] = {}
    for notification in notifications:
        event = decode(notification)
        if not isinstance(event, User.Event):
            continue
        entry = entry_for(event)
        if entry.event == "UserCreated":
            user_ids[event.originator_id] = vars(event)["user_id"]
        change = (entry.changes or {}).get(ROLES_KEY)
        if change is None or (since is not None and entry.timestamp < since):
            continue
        before, after = change["old"] or [], change["new"] or []
        if "admin" in after and "admin" not in before:
            user_id = user_ids[event.originator_id]
            grants.add((user_id, (entry.actor or {})["id"], entry.version))
    return grants


def granted_by_the_audit_store(container: Container, since: int | None = None) -> list[Grant]:
    query = ChangeQuery(key=ROLES_KEY, to="admin", since=since, take=7)
    grants = []
    while True:
        page = container.audit.changes(query)
        grants += [(c.user_id, c.actor_id or "", c.version) for c in page.changes]
        if page.next is None:
            return grants
        query = ChangeQuery(
            key=ROLES_KEY, to="admin", since=since, take=7, after=Cursor.parse(page.next)
        )


@pytest.fixture
def seeded(container: Container) -> list[str]:
    users = seed_history(container)
    AuditProjector(container.profiles, container.audit).catch_up()
    return users


def test_the_audit_store_finds_every_grant_the_event_log_holds(
    container: Container, seeded: list[str]
) -> None:
    found = granted_by_the_audit_store(container)

    assert len(found) == len(set(found))  # each once, across the checkpoints
    assert set(found) == granted_by_folding_the_log(container)
    assert len({actor for _, actor, _ in found}) == len(ACTORS)


def test_a_time_range_keeps_the_grants_made_within_it(
    container: Container, seeded: list[str]
) -> None:
    every = container.audit.changes(ChangeQuery(take=1000)).changes
    middle = sorted(change.at for change in every)[len(every) // 2]

    found = granted_by_the_audit_store(container, since=middle)

    assert set(found) == granted_by_folding_the_log(container, since=instant(middle))
    assert 0 < len(found) < len(granted_by_the_audit_store(container))


def test_the_http_api_and_its_csv_export_answer_the_same(
    container: Container, seeded: list[str], server: RunningServer, http: httpx.Client
) -> None:
    audit_caught_up(container)
    params = {"key": ROLES_KEY, "to": "admin", "take": "1000"}

    as_json = http.get("/api/v2/audit/changes", params=params)
    as_csv = http.get(
        "/api/v2/audit/changes",
        params={"key": ROLES_KEY, "to": "admin"},
        headers={"Accept": "text/csv"},
    )

    expected = granted_by_folding_the_log(container)
    assert as_json.status_code == 200, as_json.text
    assert {
        (c["user_id"], c["actor"]["id"], c["version"]) for c in as_json.json()["changes"]
    } == expected
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["user_id"], r["actor_id"], int(r["version"])) for r in rows} == expected


def test_metaledger_audit_prints_the_grants_as_csv(
    container: Container, seeded: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = parser().parse_args(
        ["audit", "--key", ROLES_KEY, "--to", "admin", "--limit", "0", "--csv"]
    )

    assert run(container.settings, args) == 0

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    expected = granted_by_folding_the_log(container)
    assert {(r["user_id"], r["actor_id"], int(r["version"])) for r in rows} == expected


def test_metaledger_audit_prints_a_table_of_who_when_and_what(
    container: Container, seeded: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = parser().parse_args(["audit", "--key", ROLES_KEY, "--to", "admin", "--limit", "3"])

    assert run(container.settings, args) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "when",
        "who",
        "user",
        "key",
        "old",
        "→",
        "new",
        "client",
    ]
    assert len([line for line in out.splitlines() if ROLES_KEY in line]) == 3


def test_a_rebuild_by_metaledger_rebuild_finds_the_same_grants(
    container: Container, seeded: list[str]
) -> None:
    live = granted_by_the_audit_store(container)
    args = parser().parse_args(["rebuild", "--read-model", "audit"])

    assert rebuild(container.settings, args) == 0

    assert granted_by_the_audit_store(container) == live
