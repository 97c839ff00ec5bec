"""Browser logins in tests: the applications' settings, PKCE, and the hosted page's forms."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from playwright.sync_api import Browser, sync_playwright

from metaledger.api.auth.claims import claim_mapping
from metaledger.api.auth.clients import AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN, Client
from metaledger.api.bootstrap import build_http
from metaledger.api.settings import Settings
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.conftest import suite_settings
from tests.support.ports import free_port
from tests.support.server import RunningServer

CHROMIUM = "/usr/bin/chromium"
SPA_CLIENT_ID = "hobby-club"
WEB_CLIENT_ID = "web-app"
WEB_CLIENT_SECRET = "web-app-secret-0123456789"
APP_ORIGIN = "http://localhost:5000"
CALLBACK = f"{APP_ORIGIN}/callback"
LOGOUT_URL = f"{APP_ORIGIN}/bye"
HOBBY_CLAIM = "https://example.com/hobby"
METADATA_CLAIM = "https://example.com/user_metadata"
MAX_ATTEMPTS = 3
PASSWORD = "Correct-horse-9"
SIGNUP_FIELDS = [
    {"name": "hobby", "label": "Hobby", "type": "text", "required": True},
    {
        "name": "level",
        "label": "Level",
        "type": "select",
        "options": [{"value": "beginner", "label": "Beginner"}, {"value": "pro", "label": "Pro"}],
    },
    {"name": "newsletter", "label": "Send me the newsletter", "type": "checkbox"},
]
# The test applications' pages (tests/e2e/browser_sdks/pages).
SDK_PAGES = ("/spa.html", "/lock.html")
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_params(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": SPA_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "state": "the-state",
        "nonce": "the-nonce",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def hidden_fields(html: str) -> dict[str, str]:
    """The first form's hidden fields (the CSRF token and the authorization request)."""
    form = html.split("</form>")[0]
    return {name: value.replace("&amp;", "&") for name, value in HIDDEN_FIELD.findall(form)}


def post_login(
    browser: httpx.Client, params: dict[str, str], email: str, password: str = PASSWORD
) -> httpx.Response:
    """Opens the hosted login page and posts its form, as a person would."""
    page = browser.get("/authorize", params=params)
    assert page.status_code == 200, page.text
    return browser.post(
        "/u/login", data={**hidden_fields(page.text), "email": email, "password": password}
    )


def redirected(response: httpx.Response) -> dict[str, str]:
    """The parameters a redirect to the application carries (query or fragment)."""
    assert response.status_code in (302, 303), response.text
    location = urlsplit(response.headers["location"])
    values = parse_qs(location.fragment or location.query)
    return {name: value[0] for name, value in values.items()}


def sdk_app_settings(data_dir: Path, api_port: int, app: str) -> Settings:
    """The suite's settings for a browser SDK test: its issuer is the API's own URL (what the
    SDKs expect of their domain), and the SPA application's pages live at `app`."""
    pages = tuple(f"{app}{page}" for page in SDK_PAGES)
    return suite_settings(data_dir, None).replace(
        issuer=f"http://127.0.0.1:{api_port}/",
        applications=(
            Client(
                client_id=SPA_CLIENT_ID,
                client_secret=None,
                name="Hobby Club",
                grants=frozenset({AUTHORIZATION_CODE, IMPLICIT, REFRESH_TOKEN}),
                scopes=(),
                connections=frozenset({DEFAULT_CONNECTION}),
                app_type="spa",
                callbacks=pages,
                allowed_logout_urls=pages,
                web_origins=(app,),
                allowed_origins=(app,),
                client_metadata=(("signup_fields", orjson.dumps(SIGNUP_FIELDS).decode()),),
            ),
        ),
        claims=(
            claim_mapping(HOBBY_CLAIM, "user_metadata.hobby"),
            claim_mapping(METADATA_CLAIM, "user_metadata"),
        ),
        brute_force_max_attempts=MAX_ATTEMPTS,
    )


@contextmanager
def sdk_server(data_dir: Path, app: str) -> Iterator[RunningServer]:
    """The API for a browser SDK test, on a port chosen before its issuer is set."""
    port = free_port()
    container = build_http(sdk_app_settings(data_dir, port, app))
    try:
        with RunningServer(container, port) as running:
            yield running
    finally:
        container.close()


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (whose own browser download is not used)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
