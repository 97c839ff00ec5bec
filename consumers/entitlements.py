"""The reference consumer: each user's roles and plan, and the history of grants and revocations.

What a billing or authorization service would keep. It reacts to `app_metadata.roles` and
`app_metadata.plan` only (every other change is ignored), and to the deletion of a user, which
revokes what they had; an erased user's rows all go, their history included. Roles are
compared as sets with what the table holds, so a grant is recorded once even if an update
repeats it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from metaledger.consumers.database import Transaction
from metaledger.consumers.messages import ChangeEvent
from metaledger.projections.cloudevents import USER_DELETED

ROLES = "app_metadata.roles"
PLAN = "app_metadata.plan"
ENTITLEMENTS_TABLE = "entitlements"
HISTORY_TABLE = "entitlement_history"

log = logging.getLogger("metaledger.consumer.entitlements")


@dataclass(frozen=True)
class Entitlements:
    user_id: str
    roles: tuple[str, ...]
    plan: str | None


@dataclass(frozen=True)
class Grant:
    """One line of the history: a role or a plan granted or revoked by an event."""

    user_id: str
    kind: str  # "role" | "plan"
    action: str  # "granted" | "revoked"
    value: str
    event_id: str
    position: int
    at: str


class EntitlementsHandler:
    name = "entitlements"

    def setup(self, tx: Transaction) -> None:
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {ENTITLEMENTS_TABLE} (user_id TEXT PRIMARY KEY, "
            "roles TEXT NOT NULL, plan TEXT, updated_at TEXT NOT NULL, event_id TEXT NOT NULL)"
        )
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (user_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, action TEXT NOT NULL, value TEXT NOT NULL, "
            "event_id TEXT NOT NULL, position BIGINT NOT NULL, at TEXT NOT NULL, "
            "PRIMARY KEY (event_id, kind, action, value))"
        )

    def wants(self, event: ChangeEvent) -> bool:
        return event.type == USER_DELETED or ROLES in event.changes or PLAN in event.changes

    def handle(self, event: ChangeEvent, tx: Transaction) -> None:
        if event.type == USER_DELETED and event.data.get("erased") is True:
            # The roles and plans are the user's app_metadata: no trace of them may stay.
            for table in (ENTITLEMENTS_TABLE, HISTORY_TABLE):
                tx.execute(f"DELETE FROM {table} WHERE user_id = ?", (event.subject,))
            tx.erasing(ENTITLEMENTS_TABLE, HISTORY_TABLE)
            log.info("erased the entitlements of %s (event %s)", event.subject, event.id)
            return
        held = current(tx, event.subject)
        roles_before = set(held.roles) if held else set()
        plan_before = held.plan if held else None
        if event.type == USER_DELETED:
            roles_after: set[str] = set()
            plan_after = None
        else:
            app_metadata = event.object.get("app_metadata") or {}
            roles_after = set(as_roles(app_metadata.get("roles")))
            plan = app_metadata.get("plan")
            plan_after = plan if isinstance(plan, str) else None
        grants = [("role", "granted", role) for role in sorted(roles_after - roles_before)]
        grants += [("role", "revoked", role) for role in sorted(roles_before - roles_after)]
        if plan_after != plan_before:
            if plan_before is not None:
                grants.append(("plan", "revoked", plan_before))
            if plan_after is not None:
                grants.append(("plan", "granted", plan_after))
        for kind, action, value in grants:
            tx.execute(
                f"INSERT INTO {HISTORY_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event.subject, kind, action, value, event.id, event.position, event.time),
            )
        log.info("%s: %s (event %s)", event.subject, describe(grants), event.id)
        if event.type == USER_DELETED:
            tx.execute(f"DELETE FROM {ENTITLEMENTS_TABLE} WHERE user_id = ?", (event.subject,))
            return
        tx.execute(
            f"INSERT INTO {ENTITLEMENTS_TABLE} VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) "
            "DO UPDATE SET roles = excluded.roles, plan = excluded.plan, "
            "updated_at = excluded.updated_at, event_id = excluded.event_id",
            (
                event.subject,
                orjson.dumps(sorted(roles_after)).decode(),
                plan_after,
                event.time,
                event.id,
            ),
        )


def describe(grants: list[tuple[str, str, str]]) -> str:
    """`granted role admin, revoked plan free, granted plan pro`, or `no change`."""
    return ", ".join(f"{action} {kind} {value}" for kind, action, value in grants) or "no change"


def as_roles(value: Any) -> list[str]:
    """Roles as Auth0 users keep them (a list of names); a lone name counts as one role."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [role for role in value if isinstance(role, str)]
    return []


def current(tx: Transaction, user_id: str) -> Entitlements | None:
    rows = tx.fetchall(
        f"SELECT roles, plan FROM {ENTITLEMENTS_TABLE} WHERE user_id = ?", (user_id,)
    )
    if not rows:
        return None
    roles, plan = rows[0]
    return Entitlements(user_id, tuple(orjson.loads(roles)), plan)


def history(tx: Transaction, user_id: str) -> list[Grant]:
    rows = tx.fetchall(
        f"SELECT user_id, kind, action, value, event_id, position, at FROM {HISTORY_TABLE} "
        "WHERE user_id = ? ORDER BY position, kind, action DESC, value",
        (user_id,),
    )
    return [Grant(*row) for row in rows]
