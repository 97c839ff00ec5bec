"""Tokens of an external identity provider, whose keys are served at a real JWKS URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from metaledger.api.auth.keys import SigningKey
from metaledger.api.settings import Settings
from tests.integration.auth.conftest import sign_up
from tests.support.tokens import claims, signed_with, signed_with_a_stranger_key

IDP_ISSUER = "https://idp.example/"
IDP_AUDIENCE = "https://metaledger.example/api"


class JwksServer:
    """Serves one key set at /jwks.json, as an identity provider does."""

    def __init__(self, key: SigningKey) -> None:
        body = orjson.dumps(key.jwks())

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if self.path == "/jwks.json" else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body if status == 200 else b"{}")

            def log_message(self, *_: object) -> None:
                """Quiet: the test output is for failures."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def idp_key() -> SigningKey:
    return SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def jwks(idp_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer(idp_key) as server:
        yield server


@pytest.fixture
def settings(settings: Settings, jwks: JwksServer) -> Settings:
    return settings.replace(
        external_issuer=IDP_ISSUER,
        external_jwks_url=jwks.url,
        external_audience=IDP_AUDIENCE,
    )


@pytest.fixture
def user_id(anonymous: httpx.Client) -> str:
    return sign_up(anonymous, "fed@example.com", user_metadata={"theme": "dark"})


def get_user(client: httpx.Client, user_id: str, token: str) -> httpx.Response:
    return client.get(f"/api/v2/users/{user_id}", headers={"Authorization": f"Bearer {token}"})


def test_a_machine_token_of_the_external_issuer_is_accepted(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(idp_key, claims(IDP_ISSUER, IDP_AUDIENCE, scope="read:users"))
    assert get_user(anonymous, user_id, token).status_code == 200


def test_permissions_of_the_external_issuer_count_as_scopes(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(
        idp_key, claims(IDP_ISSUER, IDP_AUDIENCE, scope="", permissions=["read:users"])
    )
    assert get_user(anonymous, user_id, token).status_code == 200


def test_an_external_end_user_token_acts_on_its_own_user_only(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(
        idp_key,
        claims(
            IDP_ISSUER,
            IDP_AUDIENCE,
            sub=user_id,
            gty="password",
            scope="read:current_user update:current_user_metadata",
        ),
    )
    headers = {"Authorization": f"Bearer {token}"}
    patched = anonymous.patch(
        f"/api/v2/users/{user_id}", json={"user_metadata": {"theme": "light"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    forbidden = anonymous.patch(
        f"/api/v2/users/{user_id}", json={"app_metadata": {"plan": "pro"}}, headers=headers
    )
    assert forbidden.status_code == 403


def test_an_external_token_for_another_audience_is_refused(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(idp_key, claims(IDP_ISSUER, "https://other.example/", scope="read:users"))
    assert get_user(anonymous, user_id, token).status_code == 401


def test_a_token_naming_the_external_issuer_but_signed_elsewhere_is_refused(
    anonymous: httpx.Client, user_id: str
) -> None:
    token = signed_with_a_stranger_key(claims(IDP_ISSUER, IDP_AUDIENCE, scope="read:users"))
    assert get_user(anonymous, user_id, token).status_code == 401


def test_the_external_key_does_not_sign_for_the_local_issuer(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(
        idp_key, claims("http://metaledger.test/", "http://metaledger.test/api/v2/")
    )
    assert get_user(anonymous, user_id, token).status_code == 401


def test_external_tokens_are_not_accepted_at_userinfo(
    anonymous: httpx.Client, idp_key: SigningKey, user_id: str
) -> None:
    token = signed_with(
        idp_key, claims(IDP_ISSUER, IDP_AUDIENCE, sub=user_id, scope="openid", gty="password")
    )
    response = anonymous.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_local_tokens_still_work_beside_the_external_issuer(
    http: httpx.Client, user_id: str
) -> None:
    assert http.get(f"/api/v2/users/{user_id}").status_code == 200
