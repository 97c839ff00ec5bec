"""Auth0 Lock 14 (from npm, bundled without a CDN) in headless Chromium against metaledger:
signup with three additionalSignUpFields (text, select, checkbox) into user_metadata, the
automatic login after it, getUserInfo writing user_metadata.hobby into the page, with
`auth.redirect` true and false, and Lock's message for a wrong password. The application's
page comes from another origin than the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.integration.auth.conftest import events_of
from tests.support.app_pages import AppPages
from tests.support.browser_login import (
    PASSWORD,
)
from tests.support.server import RunningServer


def sign_up_with_lock(page: Page, app: AppPages, email: str, mode: str) -> None:
    page.goto(f"{app.origin}/lock.html?screen=signUp&mode={mode}")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=hobby]").fill("kayaking")
    page.locator("input[name=level]").click()  # Lock's select opens a list of its options
    page.get_by_text("Pro", exact=True).click()
    page.locator("input[name=newsletter]").check()
    page.locator("button.auth0-lock-submit").click()


@pytest.mark.parametrize("mode", ["redirect", "popup"])
def test_lock_signs_up_logs_in_and_shows_the_hobby(
    page: Page, app: AppPages, server: RunningServer, email: str, mode: str
) -> None:
    sign_up_with_lock(page, app, email, mode)
    expect(page.locator("#status")).to_have_text("signed in", timeout=20_000)
    expect(page.locator("#hobby")).to_have_text("kayaking")
    [user] = server.container.profiles.users_by_email(email)
    assert user.user_metadata == {"hobby": "kayaking", "level": "pro", "newsletter": "true"}


def test_a_lock_signup_is_a_user_created_event_then_a_login(
    page: Page, app: AppPages, server: RunningServer, email: str
) -> None:
    sign_up_with_lock(page, app, email, "popup")
    expect(page.locator("#status")).to_have_text("signed in", timeout=20_000)
    [user] = server.container.profiles.users_by_email(email)
    created, logged_in = events_of(server.container, user.user_id)
    assert type(created).__name__ == "UserCreated"
    assert created.actor["kind"] == "self-signup"
    assert type(logged_in).__name__ == "UserLoggedIn"


def test_lock_says_wrong_email_or_password(page: Page, app: AppPages, email: str) -> None:
    page.goto(f"{app.origin}/lock.html?mode=popup")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill("not-the-password")
    page.locator("button.auth0-lock-submit").click()
    expect(page.locator(".auth0-global-message")).to_contain_text("Wrong email or password")
