"""Headless Chromium (Debian's, driven by Playwright) walks the console on both stores: sign in,
search, open a user, edit app_metadata and find the change in the timeline under the
administrator's name, travel back in time, watch the stream, erase the user; hostile metadata
shows as text and never runs. Screenshots of each page go to the test's temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from metaledger.api.bootstrap import Container
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import NewUser, UserUpdate
from tests.support.console import CONSOLE_PASSWORD, CONSOLE_USERNAME, console_settings
from tests.support.server import RunningServer

CHROMIUM = "/usr/bin/chromium"
LIVE_WAIT_MS = 15_000  # a bound on waiting for the stream's next poll, not a speed check
SETUP = Actor("client", "support-tool", "client-credentials", "setup-request")
HOSTILE_BIO = "<script>window.ran = true; alert('xss')</script>"
CONNECTION = "Username-Password-Authentication"
OTHERS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("amara@example.com", "Amara Okafor", {"plan": "team", "roles": ["admin"]}),
    ("li.wei@example.com", "Li Wei", {"plan": "pro", "seats": 12}),
    ("sofia@example.com", "Sofia Rossi", {"plan": "free"}),
    ("noah@example.com", "Noah Smith", {"plan": "enterprise", "roles": ["billing", "admin"]}),
    ("bob@example.com", "Bob Martin", {}),
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return console_settings(settings)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


@pytest.fixture
def jane(container: Container, http: httpx.Client) -> str:
    """Jane with a plan history, a login and a script in her bio, among a few searchable users."""
    profiles = container.profiles
    written = profiles.create_user(
        NewUser(
            CONNECTION,
            {"email": "jane@example.com", "name": "Jane Doe"},
            user_metadata={"hobby": "surfing", "bio": HOSTILE_BIO},
            app_metadata={"plan": "free", "roles": ["viewer"]},
        ),
        SETUP,
    )
    user_id = written.user.user_id
    for plan in ("pro", "team"):
        profiles.update_user(user_id, UserUpdate(buckets={"app_metadata": {"plan": plan}}), SETUP)
    profiles.record_login(user_id, "203.0.113.7", "my-spa", SETUP)
    for email, name, app_metadata in OTHERS:
        last = profiles.create_user(
            NewUser(CONNECTION, {"email": email, "name": name}, app_metadata=app_metadata), SETUP
        )
    # The console's search reads the read model: wait until it has every user.
    http.get("/api/v2/users", params={"min_position": last.position}).raise_for_status()
    return user_id


def shoot(page: Page, directory: Path, name: str) -> None:
    directory.mkdir(exist_ok=True)
    page.screenshot(path=directory / f"console-{name}.png", full_page=True)


def test_an_administrator_walks_the_console(
    page: Page, server: RunningServer, container: Container, jane: str, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:  # an alert() from hostile metadata would land here
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)

    page.goto(f"{server.base_url}/console")
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    shoot(page, shots, "sign-in")
    page.get_by_label("Username").fill(CONSOLE_USERNAME)
    page.get_by_label("Password").fill(CONSOLE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"of {len(OTHERS) + 1} users")
    shoot(page, shots, "users")
    page.get_by_label("Search").fill('app_metadata.plan:"team" AND user_metadata.hobby:surf*')
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("of 1 user")
    page.get_by_role("link", name="jane@example.com", exact=True).click()

    expect(page.get_by_role("heading", name="jane@example.com")).to_be_visible()
    expect(page.locator("#user_metadata-json")).to_contain_text(HOSTILE_BIO)
    page.get_by_role("radio", name="app_metadata").check()
    page.get_by_label("Patch (JSON)").fill('{"plan": "enterprise", "roles": null}')
    page.get_by_role("button", name="Preview the result").click()
    expect(page.locator("#preview-json")).to_contain_text('"plan": "enterprise"')
    expect(page.locator("#preview-json")).not_to_contain_text("roles")
    shoot(page, shots, "user-preview")
    page.get_by_role("button", name="Save this change").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: the user is now at version 5.")
    expect(page.locator("#app_metadata-json")).to_contain_text('"plan": "enterprise"')
    shoot(page, shots, "user")

    page.get_by_role("link", name="Timeline").click()
    newest = page.locator("li.event").first
    expect(newest).to_contain_text("AppMetadataPatched")
    expect(newest).to_contain_text(f"console administrator {CONSOLE_USERNAME}")
    expect(newest.locator("del").first).to_have_text('"team"')
    expect(newest.locator("ins")).to_have_text('"enterprise"')
    shoot(page, shots, "timeline")

    page.get_by_role("link", name="Time travel").click()
    expect(page.locator("#profile-json")).to_contain_text('"plan": "enterprise"')
    slider = page.get_by_role("slider", name="Version of the profile")
    slider.focus()
    page.keyboard.press("Home")  # the keyboard moves it; letting go loads that version
    page.wait_for_url("**version=1**")
    expect(page.locator("#profile-json")).to_contain_text('"plan": "free"')
    expect(page.locator("#profile-json")).to_contain_text('"viewer"')
    page.get_by_label("Compare with version").fill("5")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("heading", name="From version 1 to version 5")).to_be_visible()
    expect(page.locator("table.changes")).to_contain_text("app_metadata.plan")
    shoot(page, shots, "time-travel")

    page.get_by_role("link", name="Stream").click()
    expect(page.locator("table.stream tbody tr").first).to_contain_text("AppMetadataPatched")
    expect(page.locator("svg.chart rect").first).to_be_attached()
    shoot(page, shots, "stream")
    container.profiles.update_user(jane, UserUpdate(buckets={"user_metadata": {"live": 1}}), SETUP)
    # The page polls every few seconds: the new event arrives without a reload.
    newest = page.locator("table.stream tbody tr").first
    expect(newest).to_contain_text("UserMetadataPatched", timeout=LIVE_WAIT_MS)

    page.goto(f"{server.base_url}/console/users/{jane.replace('|', '%7C')}")
    page.get_by_label("Also erase their personal data").check()
    page.get_by_label("To confirm, type the user id").fill(jane)
    page.get_by_role("button", name="Delete user").click()
    expect(page.get_by_role("status").first).to_contain_text(f"{jane} was erased")
    page.goto(f"{server.base_url}/console/users/{jane.replace('|', '%7C')}/timeline")
    expect(page.locator("li.event").nth(1)).to_contain_text("Erased")
    expect(page.locator("main")).not_to_contain_text("jane@example.com")

    assert dialogs == []
    assert page.evaluate("window.ran") is None


def test_a_form_stripped_of_its_csrf_token_is_refused(
    page: Page, server: RunningServer, container: Container, jane: str
) -> None:
    page.goto(f"{server.base_url}/console/login")
    page.get_by_label("Username").fill(CONSOLE_USERNAME)
    page.get_by_label("Password").fill(CONSOLE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.base_url}/console/users/{jane.replace('|', '%7C')}")
    before = container.profiles.get_user(jane).version
    page.locator("form[action$='/block'] input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_role("button", name="Block").click()
    expect(page.get_by_role("alert")).to_contain_text("security token is missing")
    assert container.profiles.get_user(jane).version == before
