"""auth0-spa-js 2.x and the hosted login page in headless Chromium (Debian's, driven by
Playwright): signup with the application's fields, login, silent authentication with the
session and then with rotating refresh tokens, logout; the page's wrong password, lockout and
missing CSRF token. The application's pages come from another origin than the API (another
port of the same site: the session cookie is SameSite=Lax, as a custom login domain of the
application's site is). Screenshots of each page go to the test's temporary directory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from playwright.sync_api import Page, Request, expect

from tests.support.app_pages import AppPages
from tests.support.browser_login import (
    MAX_ATTEMPTS,
    PASSWORD,
)
from tests.support.server import RunningServer


def shoot(page: Page, directory: Path, name: str) -> None:
    directory.mkdir(exist_ok=True)
    page.screenshot(path=directory / f"{name}.png", full_page=True)


def sign_up(page: Page, app: AppPages, email: str, shots: Path | None = None) -> None:
    """Through auth0-spa-js's loginWithRedirect and the hosted signup page, back to the app."""
    page.goto(f"{app.origin}/spa.html")
    page.evaluate("app.login('signup')")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Hobby").fill("bouldering")
    page.get_by_label("Level").select_option("pro")
    page.get_by_label("Send me the newsletter").check()
    if shots is not None:
        shoot(page, shots, "hosted-signup")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{app.origin}/spa.html?*")
    page.evaluate("app.callback()")
    expect(page.locator("#status")).to_have_text(f"signed in as {email}")


def test_a_spa_signs_up_on_the_hosted_page_and_reads_the_hobby_from_the_id_token(
    page: Page, app: AppPages, server: RunningServer, email: str, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    sign_up(page, app, email, shots)
    expect(page.locator("#hobby")).to_have_text("bouldering")
    shoot(page, shots, "spa-signed-in")
    [user] = server.container.profiles.users_by_email(email)
    assert user.user_metadata == {"hobby": "bouldering", "level": "pro", "newsletter": "true"}


def test_a_spa_gets_a_token_silently_with_the_session(
    page: Page, app: AppPages, email: str
) -> None:
    sign_up(page, app, email)
    silent: list[str] = []
    page.on(
        "request",
        lambda request: silent.append(request.url) if "prompt=none" in request.url else None,
    )
    token = page.evaluate("app.silently(false)")
    assert token.count(".") == 2
    assert any("response_mode=web_message" in url for url in silent)


def test_a_spa_renews_its_token_with_a_rotating_refresh_token(
    page: Page, app: AppPages, email: str
) -> None:
    sign_up(page, app, email)
    sent: list[str] = []

    def note(request: Request) -> None:
        if request.url.endswith("/oauth/token") and request.method == "POST":
            form = parse_qs(request.post_data or "")
            sent.append(form["refresh_token"][0] if "refresh_token" in form else "")

    page.on("request", note)
    for _ in range(2):
        assert page.evaluate("app.silently(true)").count(".") == 2
    assert len(sent) == 2
    assert all(sent)
    assert sent[0] != sent[1]  # each renewal sent the refresh token the previous one returned


def test_a_spa_logout_ends_the_session(page: Page, app: AppPages, email: str) -> None:
    sign_up(page, app, email)
    with page.expect_navigation(url=f"{app.origin}/spa.html"):
        page.evaluate("setTimeout(() => app.logout(), 0)")
    error = page.evaluate("app.silently(false).then(() => 'signed in', (e) => e.error)")
    assert error == "login_required"


def open_login(page: Page, app: AppPages) -> None:
    page.goto(f"{app.origin}/spa.html")
    page.evaluate("app.login()")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def log_in_as(page: Page, app: AppPages, email: str, password: str) -> None:
    """A user who signed up earlier, back in a new browser session, on the login page."""
    sign_up(page, app, email)
    page.context.clear_cookies()
    open_login(page, app)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)


def test_the_hosted_page_logs_a_user_in(
    page: Page, app: AppPages, email: str, tmp_path: Path
) -> None:
    log_in_as(page, app, email, PASSWORD)
    shoot(page, tmp_path / "screenshots", "hosted-login")
    page.keyboard.press("Enter")  # the form submits from the keyboard
    page.wait_for_url(f"{app.origin}/spa.html?*")
    page.evaluate("app.callback()")
    expect(page.locator("#hobby")).to_have_text("bouldering")


def test_the_hosted_page_says_when_the_password_is_wrong(
    page: Page, app: AppPages, email: str, tmp_path: Path
) -> None:
    log_in_as(page, app, email, "not-the-password")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email address")).to_have_value(email)
    shoot(page, tmp_path / "screenshots", "hosted-wrong-password")


def test_the_hosted_page_locks_out_after_repeated_failures(
    page: Page, app: AppPages, email: str, tmp_path: Path
) -> None:
    log_in_as(page, app, email, "not-the-password")
    for _ in range(MAX_ATTEMPTS + 1):
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Your account has been blocked")
    shoot(page, tmp_path / "screenshots", "hosted-locked-out")


def test_the_hosted_page_refuses_a_form_without_its_csrf_token(
    page: Page, app: AppPages, email: str, tmp_path: Path
) -> None:
    open_login(page, app)
    page.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("The form expired")
    shoot(page, tmp_path / "screenshots", "hosted-csrf-refused")
