"""The browser-login suite's server, one per module: a single-page app (public, PKCE, refresh
tokens, signup fields), a regular web app (confidential), a low brute-force limit, on SQLite
(the grants' storage contract runs on both stores in tests/contracts). Each test signs up users
of its own, so tests share the server without sharing a user."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from metaledger.api.auth.claims import claim_mapping
from metaledger.api.auth.clients import (
    AUTHORIZATION_CODE,
    IMPLICIT,
    PASSWORD_REALM,
    REFRESH_TOKEN,
    Client,
)
from metaledger.api.bootstrap import Container, build_http
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.conftest import suite_settings
from tests.support.browser_login import (
    APP_ORIGIN,
    CALLBACK,
    HOBBY_CLAIM,
    LOGOUT_URL,
    MAX_ATTEMPTS,
    SIGNUP_FIELDS,
    SPA_CLIENT_ID,
    WEB_CLIENT_ID,
    WEB_CLIENT_SECRET,
)
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return suite_settings(tmp_path_factory.mktemp("browser") / "data", None).replace(
        applications=(
            Client(
                client_id=SPA_CLIENT_ID,
                client_secret=None,
                name="Hobby Club",
                grants=frozenset({AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN, PASSWORD_REALM}),
                scopes=(),
                connections=frozenset({DEFAULT_CONNECTION}),
                app_type="spa",
                callbacks=(CALLBACK,),
                allowed_logout_urls=(LOGOUT_URL,),
                web_origins=(APP_ORIGIN,),
                allowed_origins=(APP_ORIGIN,),
                client_metadata=(("signup_fields", orjson.dumps(SIGNUP_FIELDS).decode()),),
            ),
            Client(
                client_id=WEB_CLIENT_ID,
                client_secret=WEB_CLIENT_SECRET,
                name="Regular web app",
                grants=frozenset({AUTHORIZATION_CODE}),
                scopes=(),
                connections=frozenset({DEFAULT_CONNECTION}),
                app_type="regular_web",
                callbacks=(CALLBACK,),
            ),
        ),
        claims=(claim_mapping(HOBBY_CLAIM, "user_metadata.hobby"),),
        brute_force_max_attempts=MAX_ATTEMPTS,
    )


@pytest.fixture(scope="module")
def container(settings: Settings) -> Iterator[Container]:
    built = build_http(settings)
    yield built
    built.close()


@pytest.fixture(scope="module")
def server(container: Container) -> Iterator[RunningServer]:
    with RunningServer(container) as running:
        yield running


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    """A client that keeps cookies and does not follow redirects, as the tests look at each."""
    with httpx.Client(base_url=server.base_url) as client:
        yield client
