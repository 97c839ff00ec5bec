"""GET /api/v2/connections: the configured database connections with stable Auth0-style ids."""

from __future__ import annotations

import re

import httpx

from metaledger.api.directory import connection_id
from tests.conftest import admin_token
from tests.support.jobs import CONNECTION
from tests.support.server import RunningServer


def test_the_list_names_each_configured_connection_with_a_con_id(http: httpx.Client) -> None:
    [connection] = http.get("/api/v2/connections").json()

    assert connection["name"] == CONNECTION
    assert connection["strategy"] == "auth0"
    assert re.fullmatch(r"con_[A-Za-z0-9]{16}", connection["id"])


def test_a_connections_id_is_derived_from_its_name_alone() -> None:
    assert connection_id(CONNECTION) == connection_id(CONNECTION)
    assert connection_id(CONNECTION) != connection_id(CONNECTION + "-2")


def test_name_filters_the_list(http: httpx.Client) -> None:
    assert http.get("/api/v2/connections", params={"name": "nope"}).json() == []
    assert len(http.get("/api/v2/connections", params={"name": CONNECTION}).json()) == 1


def test_a_connection_is_read_by_id(http: httpx.Client) -> None:
    id_ = connection_id(CONNECTION)

    assert http.get(f"/api/v2/connections/{id_}").json()["name"] == CONNECTION


def test_an_unknown_connection_id_is_404(http: httpx.Client) -> None:
    response = http.get("/api/v2/connections/con_0000000000000000")

    assert response.status_code == 404
    assert response.json()["errorCode"] == "inexistent_connection"


def test_checkpoint_paging_wraps_the_list(http: httpx.Client) -> None:
    page = http.get("/api/v2/connections", params={"take": 1}).json()

    assert [c["name"] for c in page["connections"]] == [CONNECTION]
    assert "next" not in page


def test_reading_connections_needs_read_connections(server: RunningServer) -> None:
    token = admin_token(server.base_url, scope="read:users")

    response = httpx.get(
        f"{server.base_url}/api/v2/connections", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 403
