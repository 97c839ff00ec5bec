"""The console in tests: settings that turn it on with a known administrator, and signing in."""

from __future__ import annotations

import re

import httpx

from metaledger.api.settings import Settings

CONSOLE_USERNAME = "root"
CONSOLE_PASSWORD = "Console-password-42"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(settings: Settings, **changes: object) -> Settings:
    return settings.replace(
        console=True,
        console_admin_username=CONSOLE_USERNAME,
        console_admin_password=CONSOLE_PASSWORD,
        **changes,
    )


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(
    client: httpx.Client, password: str = CONSOLE_PASSWORD, username: str = CONSOLE_USERNAME
) -> httpx.Response:
    """Posts the sign-in form as a browser would (its CSRF cookie and field); returns the
    answer, a redirect on success."""
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
    )


def signed_in_csrf(client: httpx.Client) -> str:
    """Signs in and returns the session's CSRF token, as the console's forms carry it."""
    assert sign_in(client).status_code == 303
    return csrf_of(client.get("/console/users").text)
