"""The machine-to-machine token endpoint, discovery, public keys and health."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

AUDIENCE = "http://metaledger.test/api/v2/"


def token_request(server: RunningServer, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": ADMIN_CLIENT_ID,
        "client_secret": ADMIN_CLIENT_SECRET,
        "audience": AUDIENCE,
        **overrides,
    }
    return httpx.post(f"{server.base_url}/oauth/token", data=form)


def test_the_admin_client_gets_a_bearer_token_with_every_management_scope(
    server: RunningServer,
) -> None:
    response = token_request(server)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert set(body["scope"].split()) >= {
        "read:users",
        "create:users",
        "update:users",
        "update:users_app_metadata",
        "delete:users",
    }


def test_an_issued_token_verifies_with_the_published_keys(server: RunningServer) -> None:
    access_token = token_request(server).json()["access_token"]
    jwks = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(access_token)["kid"]]
    claims = jwt.decode(access_token, key.key, algorithms=["RS256"], audience=AUDIENCE)
    assert claims["iss"] == "http://metaledger.test/"
    assert claims["sub"] == f"{ADMIN_CLIENT_ID}@clients"


def test_discovery_names_the_issuer_and_its_keys(server: RunningServer) -> None:
    document = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()
    assert document["issuer"] == "http://metaledger.test/"
    assert document["jwks_uri"] == "http://metaledger.test/.well-known/jwks.json"


def test_a_requested_scope_narrows_the_token(server: RunningServer) -> None:
    assert token_request(server, scope="read:users").json()["scope"] == "read:users"


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "access_denied"),
        ({"client_id": "nobody"}, 401, "access_denied"),
        ({"audience": "https://elsewhere/api/v2/"}, 403, "access_denied"),
        ({"grant_type": "urn:made-up"}, 403, "unauthorized_client"),
    ],
)
def test_a_bad_token_request_gets_an_oauth_error(
    server: RunningServer, overrides: dict[str, str], status: int, error: str
) -> None:
    response = token_request(server, **overrides)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def test_client_credentials_may_come_as_http_basic(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.base_url}/oauth/token",
        data={"grant_type": "client_credentials", "audience": AUDIENCE},
        auth=(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
    )
    assert response.status_code == 200


def test_health_and_readiness_answer(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_the_correlation_id_is_echoed_and_one_is_made_when_absent(http: httpx.Client) -> None:
    sent = http.get("/healthz", headers={"X-Correlation-ID": "trace-42"})
    assert sent.headers["X-Correlation-ID"] == "trace-42"
    assert len(http.get("/healthz").headers["X-Correlation-ID"]) == 32


def test_a_write_carries_its_event_position(http: httpx.Client) -> None:
    body = {"connection": "Username-Password-Authentication", "password": PASSWORD}
    first = http.post("/api/v2/users", json=body)
    second = http.post("/api/v2/users", json=body)
    assert int(second.headers["X-Metaledger-Position"]) > int(
        first.headers["X-Metaledger-Position"]
    )
