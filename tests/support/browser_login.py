"""Browser logins in tests: the applications' settings, PKCE, and the hosted page's forms."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

SPA_CLIENT_ID = "hobby-club"
WEB_CLIENT_ID = "web-app"
WEB_CLIENT_SECRET = "web-app-secret-0123456789"
APP_ORIGIN = "http://localhost:5000"
CALLBACK = f"{APP_ORIGIN}/callback"
LOGOUT_URL = f"{APP_ORIGIN}/bye"
HOBBY_CLAIM = "https://example.com/hobby"
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
