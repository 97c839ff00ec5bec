"""/api/v2/clients over HTTP, as Auth0's Management API answers it: applications created,
listed, read, changed, deleted and their secrets rotated, each refusal in Auth0's body with
nothing written, configured applications read only, and a created application logging users in
at once. The official SDKs (auth0-python, node `auth0`) drive the same routes.

One server for the module (SQLite: the registry's storage contract runs on both stores); each
test makes the applications it looks at.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth0.management import Auth0, BadRequestError, NotFoundError

from metaledger.api.auth.applications import parse_applications
from metaledger.api.bootstrap import build_http
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.conftest import ADMIN_CLIENT_ID, admin_token, suite_settings
from tests.support.server import RunningServer

CONFIGURED = "configured-spa"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
PASSWORD = "Correct-horse-9"
NODE_SDK = Path(__file__).parent / "node_sdk"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = suite_settings(tmp_path_factory.mktemp("clients") / "data").replace(
        applications=parse_applications(
            f'[{{"client_id": "{CONFIGURED}", "name": "configured", "app_type": "spa", '
            f'"grant_types": ["{PASSWORD_REALM}"], "callbacks": ["https://spa.example/cb"]}}]',
            frozenset({DEFAULT_CONNECTION}),
        ),
    )
    container = build_http(settings)
    with RunningServer(container) as running:
        yield running
    container.close()


def client_with(server: RunningServer, scope: str | None = None) -> httpx.Client:
    token = admin_token(server.base_url, scope=scope)
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with client_with(server) as client:
        yield client


@pytest.fixture(scope="module")
def reader(server: RunningServer) -> Iterator[httpx.Client]:
    """Holds read:clients but not read:client_keys."""
    with client_with(server, "read:clients") as client:
        yield client


def create(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = http.post("/api/v2/clients", json={"name": "web app", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, error_code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    assert body["errorCode"] == error_code
    message: str = body["message"]
    return message


def count(http: httpx.Client) -> int:
    total: int = http.get("/api/v2/clients", params={"include_totals": "true"}).json()["total"]
    return total


def test_a_created_application_gets_a_client_id_a_secret_and_auth0s_defaults(
    http: httpx.Client,
) -> None:
    created = create(http, callbacks=["https://app.example/callback"])
    assert len(created["client_id"]) == 32
    assert created["client_id"].isalnum()
    assert len(created["client_secret"]) >= 48
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    assert created["grant_types"] == [
        "authorization_code",
        "implicit",
        "refresh_token",
        "client_credentials",
    ]
    assert (created["is_first_party"], created["global"]) == (True, False)
    assert created["callbacks"] == ["https://app.example/callback"]


def test_a_single_page_app_is_public_by_default(http: httpx.Client) -> None:
    created = create(http, app_type="spa")
    assert created["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in created
    assert "client_credentials" not in created["grant_types"]


def test_every_field_given_is_kept(http: httpx.Client) -> None:
    fields = {
        "name": "storefront",
        "description": "The shop",
        "app_type": "regular_web",
        "is_first_party": False,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "callbacks": ["https://shop.example/cb", "com.example.shop:/callback"],
        "allowed_logout_urls": ["https://shop.example/"],
        "web_origins": ["https://shop.example"],
        "allowed_origins": ["https://*.shop.example"],
        "client_metadata": {"tier": "gold"},
    }
    created = create(http, **fields)
    read = http.get(f"/api/v2/clients/{created['client_id']}").json()
    assert {key: read[key] for key in fields} == fields


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({}, "Missing required property: name"),
        ({"name": ""}, "on property name"),
        ({"name": "x", "colour": "red"}, "Additional properties not allowed: colour"),
        ({"name": "x", "app_type": "robot"}, "on property app_type"),
        ({"name": "x", "grant_types": ["password", "magic"]}, "on property grant_types.1"),
        ({"name": "x", "callbacks": "https://a.example"}, "on property callbacks"),
        ({"name": "x", "callbacks": ["not a url"]}, "format url: not a url' on property callbacks"),
        ({"name": "x", "web_origins": ["https://a.example/path"]}, "format origin"),
        ({"name": "x", "allowed_origins": ["ftp://a.example"]}, "format origin"),
        ({"name": "x", "client_metadata": {"n": 1}}, "on property client_metadata.n"),
        ({"name": "x", "client_metadata": {f"k{i}": "v" for i in range(11)}}, "client_metadata"),
        ({"name": "x", "description": "d" * 141}, "maximum 140"),
        (
            {
                "name": "x",
                "token_endpoint_auth_method": "none",
                "grant_types": ["client_credentials"],
            },
            "cannot use the client_credentials grant",
        ),
    ],
)
def test_a_bad_body_is_refused_and_nothing_is_created(
    http: httpx.Client, body: dict[str, Any], said: str
) -> None:
    before = count(http)
    assert said in refused(http.post("/api/v2/clients", json=body), 400, "invalid_body")
    assert count(http) == before


def test_the_secret_is_shown_only_to_read_client_keys(
    http: httpx.Client, reader: httpx.Client
) -> None:
    created = create(http)
    path = f"/api/v2/clients/{created['client_id']}"
    assert http.get(path).json()["client_secret"] == created["client_secret"]
    assert "client_secret" not in reader.get(path).json()
    assert all("client_secret" not in body for body in reader.get("/api/v2/clients").json())


def test_the_admin_and_configured_applications_are_listed(reader: httpx.Client) -> None:
    listed = {body["client_id"]: body for body in reader.get("/api/v2/clients").json()}
    assert listed[ADMIN_CLIENT_ID]["name"] == "metaledger admin"
    assert listed[CONFIGURED]["callbacks"] == ["https://spa.example/cb"]
    assert listed[CONFIGURED]["token_endpoint_auth_method"] == "none"


def test_the_list_pages_with_totals_and_filters_by_app_type(http: httpx.Client) -> None:
    native = create(http, app_type="native", name="phone")
    page = http.get(
        "/api/v2/clients", params={"include_totals": "true", "per_page": 1, "page": 1}
    ).json()
    assert (page["start"], page["limit"], len(page["clients"])) == (1, 1, 1)
    assert page["total"] == count(http)
    natives = http.get("/api/v2/clients", params={"app_type": "native"}).json()
    assert native["client_id"] in [body["client_id"] for body in natives]
    assert {body["app_type"] for body in natives} == {"native"}


def test_fields_choose_what_each_application_shows(http: httpx.Client) -> None:
    created = create(http)
    path = f"/api/v2/clients/{created['client_id']}"
    assert http.get(path, params={"fields": "name,app_type"}).json() == {"name": "web app"}
    excluded = http.get(path, params={"fields": "client_secret", "include_fields": "false"})
    assert "client_secret" not in excluded.json()
    assert excluded.json()["name"] == "web app"


def test_an_unknown_app_type_filter_is_refused(http: httpx.Client) -> None:
    response = http.get("/api/v2/clients", params={"app_type": "robot"})
    refused(response, 400, "invalid_query_string")


def test_an_unknown_application_is_404(http: httpx.Client) -> None:
    for response in (
        http.get("/api/v2/clients/nobody"),
        http.patch("/api/v2/clients/nobody", json={"name": "x"}),
        http.post("/api/v2/clients/nobody/rotate-secret"),
    ):
        assert refused(response, 404, "inexistent_client") == "The client does not exist"


def test_a_patch_changes_the_fields_it_names_and_merges_client_metadata(
    http: httpx.Client,
) -> None:
    created = create(http, client_metadata={"tier": "gold", "region": "eu"})
    response = http.patch(
        f"/api/v2/clients/{created['client_id']}",
        json={
            "name": "renamed",
            "callbacks": ["https://new.example/cb"],
            "client_metadata": {"region": None, "owner": "ops"},
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["callbacks"]) == ("renamed", ["https://new.example/cb"])
    assert updated["client_metadata"] == {"tier": "gold", "owner": "ops"}
    assert updated["client_secret"] == created["client_secret"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"name": None}, "on property name"),
        ({"web_origins": ["https://a.example/x"]}, "format origin"),
        ({"client_metadata": {f"k{i}": "v" for i in range(10)}}, "maximum 10"),
        ({"token_endpoint_auth_method": "none"}, "client_credentials grant"),
    ],
)
def test_a_bad_patch_is_refused_and_nothing_changes(
    http: httpx.Client, body: dict[str, Any], said: str
) -> None:
    created = create(http, client_metadata={"tier": "gold"})
    path = f"/api/v2/clients/{created['client_id']}"
    assert said in refused(http.patch(path, json=body), 400, "invalid_body")
    assert http.get(path).json() == created


def test_a_configured_application_cannot_be_changed_deleted_or_rotated(
    http: httpx.Client,
) -> None:
    for response in (
        http.patch(f"/api/v2/clients/{CONFIGURED}", json={"name": "x"}),
        http.delete(f"/api/v2/clients/{CONFIGURED}"),
        http.post(f"/api/v2/clients/{ADMIN_CLIENT_ID}/rotate-secret"),
    ):
        assert "METALEDGER_APPLICATIONS" in refused(response, 400, "operation_not_supported")
    assert http.get(f"/api/v2/clients/{CONFIGURED}").json()["name"] == "configured"


def test_a_deleted_application_is_gone(http: httpx.Client) -> None:
    created = create(http)
    path = f"/api/v2/clients/{created['client_id']}"
    assert http.delete(path).status_code == 204
    refused(http.get(path), 404, "inexistent_client")


def client_credentials(server: RunningServer, client_id: str, secret: str) -> int:
    return httpx.post(
        f"{server.base_url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).status_code


def test_a_rotated_secret_replaces_the_old_one_at_once(
    server: RunningServer, http: httpx.Client
) -> None:
    created = create(http, app_type="non_interactive")
    assert client_credentials(server, created["client_id"], created["client_secret"]) == 200
    response = http.post(f"/api/v2/clients/{created['client_id']}/rotate-secret")
    assert response.status_code == 200, response.text
    rotated = response.json()["client_secret"]
    assert client_credentials(server, created["client_id"], created["client_secret"]) == 401
    assert client_credentials(server, created["client_id"], rotated) == 200


def test_a_public_application_has_no_secret_to_rotate(http: httpx.Client) -> None:
    created = create(http, app_type="spa")
    response = http.post(f"/api/v2/clients/{created['client_id']}/rotate-secret")
    refused(response, 400, "invalid_body")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", "/api/v2/clients", "read:clients"),
        ("GET", "/api/v2/clients", "create:clients"),
        ("GET", "/api/v2/clients/x", "delete:clients"),
        ("PATCH", "/api/v2/clients/x", "read:clients read:client_keys"),
        ("DELETE", "/api/v2/clients/x", "update:clients"),
        ("POST", "/api/v2/clients/x/rotate-secret", "update:clients"),
    ],
)
def test_each_route_needs_its_scope(
    server: RunningServer, method: str, path: str, scope: str
) -> None:
    with client_with(server, scope) as client:
        response = client.request(method, path, json={"name": "x"})
    assert refused(response, 403, "insufficient_scope").startswith("Insufficient scope")


def test_a_request_without_a_token_is_401(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/api/v2/clients")
    assert response.status_code == 401


def password_realm_login(base_url: str, client_id: str, email: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/oauth/token",
        json={
            "grant_type": PASSWORD_REALM,
            "client_id": client_id,
            "username": email,
            "password": PASSWORD,
            "realm": DEFAULT_CONNECTION,
            "scope": "openid",
        },
    )


def test_a_created_application_logs_a_user_in_with_the_password_realm_grant_at_once(
    server: RunningServer, http: httpx.Client
) -> None:
    created = create(http, app_type="spa", grant_types=[PASSWORD_REALM])
    http.post(
        "/api/v2/users",
        json={"connection": DEFAULT_CONNECTION, "email": "new@example.com", "password": PASSWORD},
    ).raise_for_status()
    response = password_realm_login(server.base_url, created["client_id"], "new@example.com")
    assert response.status_code == 200, response.text
    assert "id_token" in response.json()


def test_a_grant_the_application_lacks_is_refused(
    server: RunningServer, http: httpx.Client
) -> None:
    created = create(http, app_type="spa", grant_types=["authorization_code"])
    response = password_realm_login(server.base_url, created["client_id"], "x@example.com")
    assert response.status_code == 403
    assert response.json()["error"] == "unauthorized_client"


def test_a_created_public_application_signs_users_up(
    server: RunningServer, http: httpx.Client
) -> None:
    created = create(http, app_type="spa")
    response = httpx.post(
        f"{server.base_url}/dbconnections/signup",
        json={
            "client_id": created["client_id"],
            "email": "signup@example.com",
            "password": PASSWORD,
            "connection": DEFAULT_CONNECTION,
            "user_metadata": {"hobby": "kites"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_metadata"] == {"hobby": "kites"}


def test_a_stored_connection_enables_the_created_applications_it_lists(
    server: RunningServer, http: httpx.Client
) -> None:
    enabled = create(http, app_type="spa", grant_types=[PASSWORD_REALM])
    other = create(http, app_type="spa", grant_types=[PASSWORD_REALM])
    http.post(
        "/api/v2/connections",
        json={"name": "partners", "strategy": "auth0", "enabled_clients": [enabled["client_id"]]},
    ).raise_for_status()
    http.post(
        "/api/v2/users",
        json={"connection": "partners", "email": "partner@example.com", "password": PASSWORD},
    ).raise_for_status()
    form = {
        "grant_type": PASSWORD_REALM,
        "username": "partner@example.com",
        "password": PASSWORD,
        "realm": "partners",
    }
    allowed = httpx.post(
        f"{server.base_url}/oauth/token", json={**form, "client_id": enabled["client_id"]}
    )
    assert allowed.status_code == 200, allowed.text
    refused_login = httpx.post(
        f"{server.base_url}/oauth/token", json={**form, "client_id": other["client_id"]}
    )
    assert refused_login.status_code == 403
    assert refused_login.json()["error"] == "unauthorized_client"


@pytest.fixture(scope="module")
def sdk(server: RunningServer) -> Auth0:
    return Auth0(
        base_url=f"{server.base_url}/api/v2", token=admin_token(server.base_url), max_retries=0
    )


def test_the_python_sdk_creates_reads_lists_updates_rotates_and_deletes(sdk: Auth0) -> None:
    created = sdk.clients.create(
        name="sdk app",
        app_type="regular_web",
        callbacks=["https://sdk.example/cb"],
        client_metadata={"team": "core"},
    )
    assert created.client_id is not None
    assert sdk.clients.get(created.client_id).callbacks == ["https://sdk.example/cb"]
    listed = [client.client_id for client in sdk.clients.list(app_type="regular_web")]
    assert created.client_id in listed
    updated = sdk.clients.update(created.client_id, name="sdk app 2", web_origins=["https://x.io"])
    assert (updated.name, updated.web_origins) == ("sdk app 2", ["https://x.io"])
    rotated = sdk.clients.rotate_secret(created.client_id)
    assert rotated.client_secret not in (None, created.client_secret)
    sdk.clients.delete(created.client_id)
    with pytest.raises(NotFoundError):
        sdk.clients.get(created.client_id)


def test_the_python_sdk_sees_auth0s_error_for_a_bad_application(sdk: Auth0) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.clients.create(name="x", web_origins=["https://x.io/path"])
    assert error.value.body["errorCode"] == "invalid_body"


def test_the_node_sdk_manages_applications(server: RunningServer) -> None:
    managed = subprocess.run(
        [
            "node",
            str(NODE_SDK / "manage_clients.mjs"),
            f"{server.base_url}/api/v2",
            admin_token(server.base_url),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(managed.stdout)
    assert seen.pop("secretRotated") is True
    assert seen == {
        "created": {"name": "node app", "app_type": "spa", "public": True},
        "listed": True,
        "updated": ["https://node.example/cb"],
        "afterDelete": 404,
    }
