"""The browser SDK tests' fixtures, one server, page server and Chromium per module: the API on
one port, the application's pages (from npm's SDKs, no CDN) on another, so every SDK call is
cross-origin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.app_pages import AppPages
from tests.support.browser_login import (
    HOBBY_CLAIM,
    METADATA_CLAIM,
    SPA_CLIENT_ID,
    headless_chromium,
    sdk_server,
)
from tests.support.ports import free_port
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, app_port: int) -> Iterator[RunningServer]:
    app = f"http://127.0.0.1:{app_port}"
    with sdk_server(tmp_path_factory.mktemp("sdk") / "data", app) as running:
        yield running


@pytest.fixture(scope="module")
def app(server: RunningServer, app_port: int) -> Iterator[AppPages]:
    config = {
        "api": server.base_url,
        "clientId": SPA_CLIENT_ID,
        "hobbyClaim": HOBBY_CLAIM,
        "metadataClaim": METADATA_CLAIM,
    }
    with AppPages(app_port, config) as pages:
        yield pages


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with headless_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 900, "height": 860})
    yield context.new_page()
    context.close()


@pytest.fixture
def email() -> str:
    """An address of the test's own: the module's tests share one server."""
    return f"ada.{uuid.uuid4().hex[:10]}@example.com"
