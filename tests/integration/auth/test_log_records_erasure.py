"""Erasing a user clears their personal data from the audit read model's files and row versions:
the values of their changes, their email as the records' user name, and the email typed at a
failed login; the records themselves stay."""

from __future__ import annotations

import httpx

from metaledger.api.bootstrap import Container
from metaledger.api.stores import AUDIT_FILE
from tests.conftest import admin_token
from tests.integration.auth.conftest import login_body, sign_up
from tests.support.at_rest import everything_stored, found
from tests.support.audit import audit_caught_up
from tests.support.server import RunningServer

EMAIL = "zqx.audit.marker@example.com"
MARKERS = [
    marker.encode()
    for marker in (
        EMAIL,
        EMAIL.upper(),  # as typed at a failed login
        "zqx-hobby-falconry",
        "zqx-role-auditor",
        "zqx-plan-platinum",
    )
]


def audit_places(stored: dict[str, bytes]) -> dict[str, bytes]:
    """What the audit read model keeps: its SQLite files, or its PostgreSQL tables and
    indexes (the dump holds every store: the other tests of erasure look at it whole)."""
    return {
        place: data
        for place, data in stored.items()
        if place.startswith(AUDIT_FILE) or "audit_" in place
    }


def test_an_erasure_leaves_no_personal_data_in_the_audit_tables(
    server: RunningServer, anonymous: httpx.Client, container: Container
) -> None:
    token = admin_token(server.base_url)
    admin = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"})
    user_id = sign_up(anonymous, EMAIL, user_metadata={"hobby": "zqx-hobby-falconry"})
    admin.patch(
        f"/api/v2/users/{user_id}",
        json={"app_metadata": {"roles": ["zqx-role-auditor"], "plan": "zqx-plan-platinum"}},
    )
    anonymous.post("/oauth/token", json=login_body(EMAIL.upper(), "Wrong-password-1"))
    audit_caught_up(container)
    assert found(audit_places(everything_stored(container.settings)), MARKERS)
    records_before = admin.get(f"/api/v2/users/{user_id}/logs").json()

    assert admin.delete(f"/api/v2/users/{user_id}", params={"erase": "true"}).status_code == 204
    audit_caught_up(container)
    # Files are cleared after the erasing batch commits: a later batch means it finished.
    admin.post(
        "/api/v2/users",
        json={
            "connection": "Username-Password-Authentication",
            "email": "later@example.com",
            "password": "Later-password-1",
        },
    )
    audit_caught_up(container)

    assert found(audit_places(everything_stored(container.settings)), MARKERS) == {}
    records_after = admin.get(f"/api/v2/users/{user_id}/logs").json()
    assert [r["type"] for r in records_after] == ["sdu", *(r["type"] for r in records_before)]
    admin.close()
