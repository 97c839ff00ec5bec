"""The console over HTTP on both stores: sessions, CSRF, the editor's rules, the actor it records
and hostile content shown as text."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from metaledger.api.bootstrap import Container, build_http
from metaledger.api.http.console.session import COOKIE
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.user import User
from tests.support.console import (
    CONSOLE_PASSWORD,
    CONSOLE_USERNAME,
    console_settings,
    csrf_of,
    sign_in,
    signed_in_csrf,
)
from tests.support.server import RunningServer
from tests.support.users import create_user

SETUP = Actor("client", "setup")
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return console_settings(settings, brute_force_max_attempts=3, metadata_max_bytes=200)


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    """A client holding cookies, not following redirects, as a browser's requests are checked."""
    with httpx.Client(base_url=server.base_url) as client:
        yield client


@pytest.fixture
def jane(container: Container) -> str:
    return create_user(
        container.profiles,
        SETUP,
        {"email": "jane@example.com"},
        user_metadata={"bio": HOSTILE},
        app_metadata={"plan": "free"},
    )


def page_of(user_id: str, rest: str = "") -> str:
    return f"/console/users/{quote(user_id, safe='')}{rest}"


def post_patch(
    browser: httpx.Client,
    user_id: str,
    patch: str,
    action: str = "save",
    **extra: str,
) -> httpx.Response:
    """The editor's form for app_metadata, as the page posts it (`extra`: its CSRF token)."""
    form = {"bucket": "app_metadata", "patch": patch, "action": action, **extra}
    return browser.post(page_of(user_id, "/metadata"), data=form)


def latest(container: Container, user_id: str) -> User:
    return container.profiles.get_user(user_id)


def test_the_console_is_off_unless_turned_on(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, argon2_memory_cost_kib=1024, argon2_time_cost=1)
    with RunningServer(build_http(settings)) as running:
        assert httpx.get(f"{running.base_url}/console/users").status_code == 404
    assert not (tmp_path / "console-admin.json").exists()


def test_a_page_without_a_session_sends_the_browser_to_sign_in(browser: httpx.Client) -> None:
    response = browser.get("/console/users?q=plan")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fusers%3Fq%3Dplan"


def test_signing_in_sets_an_httponly_samesite_strict_session_cookie(
    browser: httpx.Client,
) -> None:
    response = sign_in(browser)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/users"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain http here; https adds it
    assert browser.get("/console/users").status_code == 200


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_sign_in(
    browser: httpx.Client,
) -> None:
    for _ in range(3):
        refused = sign_in(browser, password="not-the-password")
        assert refused.status_code == 401
        assert "Wrong username or password." in refused.text
    locked = sign_in(browser, password=CONSOLE_PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert COOKIE not in browser.cookies


def test_an_unknown_username_is_refused_like_a_wrong_password(browser: httpx.Client) -> None:
    refused = sign_in(browser, username="nobody")
    assert refused.status_code == 401
    assert "Wrong username or password." in refused.text


def test_the_sign_in_form_without_its_csrf_token_is_refused(browser: httpx.Client) -> None:
    browser.get("/console/login")
    response = browser.post(
        "/console/login", data={"username": CONSOLE_USERNAME, "password": CONSOLE_PASSWORD}
    )
    assert response.status_code == 403
    assert COOKIE not in browser.cookies


def test_signing_in_never_redirects_off_the_console(browser: httpx.Client) -> None:
    form = browser.get("/console/login")
    response = browser.post(
        "/console/login",
        data={
            "username": CONSOLE_USERNAME,
            "password": CONSOLE_PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/console/users",
        },
    )
    assert response.headers["location"] == "/console/users"


def test_every_console_page_sends_a_strict_content_security_policy(
    browser: httpx.Client, jane: str
) -> None:
    signed_in_csrf(browser)
    for path in (
        "/console/login",
        "/console/users",
        page_of(jane),
        page_of(jane, "/timeline"),
        page_of(jane, "/time-travel"),
        "/console/stream",
    ):
        response = browser.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_written(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    signed_in_csrf(browser)
    before = latest(container, jane).version
    for token in ({}, {"csrf_token": "forged"}):
        response = post_patch(browser, jane, '{"plan": "pro"}', **token)
        assert response.status_code == 403
        assert "security token" in response.text
    assert browser.post(page_of(jane, "/block"), data={"blocked": "true"}).status_code == 403
    assert latest(container, jane).version == before
    assert latest(container, jane).app_metadata == {"plan": "free"}


def test_a_preview_shows_the_merged_bucket_and_writes_nothing(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    response = post_patch(browser, jane, '{"plan": null, "seats": 5}', "preview", csrf_token=csrf)
    assert response.status_code == 200
    assert '"seats": 5' in html.unescape(response.text)
    assert "app_metadata.plan" in response.text
    assert latest(container, jane).version == 1


def test_saving_records_the_console_administrator_and_the_request_id(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    browser.headers["X-Correlation-ID"] = "console-save-1"
    response = post_patch(browser, jane, '{"plan": "pro"}', csrf_token=csrf)
    assert response.status_code == 303
    assert response.headers["location"] == page_of(jane, "?saved=2#main")
    assert latest(container, jane).app_metadata == {"plan": "pro"}
    entry = UserHistory(container.profiles).page(jane, HistoryFilter(), 0, 1).entries[0]
    assert entry.event == "AppMetadataPatched"
    assert entry.actor is not None
    assert entry.actor["kind"] == "console"
    assert entry.actor["id"] == CONSOLE_USERNAME
    assert entry.actor["request_id"] == "console-save-1"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ('{"blocked": true}', "these app_metadata keys are reserved: blocked"),
        ('{"a.b": 1}', 'Fields with "." are not allowed'),
        ('{"notes": "' + "x" * 300 + '"}', "over the limit of 200 bytes"),
        ("{not json", "The patch is not valid JSON"),
        ("[1, 2]", "Expected type object but found type array"),
    ],
)
def test_a_refused_patch_is_shown_with_its_reason_and_nothing_is_written(
    browser: httpx.Client, container: Container, jane: str, patch: str, message: str
) -> None:
    csrf = signed_in_csrf(browser)
    response = post_patch(browser, jane, patch, csrf_token=csrf)
    assert response.status_code == 400
    assert "Refused, nothing was saved" in response.text
    assert message in html.unescape(response.text)
    assert latest(container, jane).version == 1


def test_hostile_metadata_is_escaped_on_every_page(browser: httpx.Client, jane: str) -> None:
    signed_in_csrf(browser)
    for path in (page_of(jane), page_of(jane, "/timeline"), page_of(jane, "/time-travel")):
        page = browser.get(path).text
        assert "<script>document" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_blocking_and_unblocking_are_recorded(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    browser.post(page_of(jane, "/block"), data={"csrf_token": csrf, "blocked": "true"})
    assert latest(container, jane).profile["blocked"] is True
    browser.post(page_of(jane, "/block"), data={"csrf_token": csrf, "blocked": "false"})
    assert latest(container, jane).profile["blocked"] is False
    assert "console administrator root" in browser.get(page_of(jane, "/timeline")).text


def test_deleting_needs_the_user_id_typed_to_confirm(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    refused = browser.post(
        page_of(jane, "/delete"), data={"csrf_token": csrf, "confirm": "jane@example.com"}
    )
    assert refused.status_code == 400
    assert "nothing was deleted" in refused.text
    assert latest(container, jane).deleted is False
    done = browser.post(page_of(jane, "/delete"), data={"csrf_token": csrf, "confirm": jane})
    assert done.status_code == 303
    assert browser.get(page_of(jane)).status_code == 404


def test_erasing_leaves_a_timeline_of_erased_events(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    browser.post(
        page_of(jane, "/delete"), data={"csrf_token": csrf, "confirm": jane, "erase": "on"}
    )
    timeline = browser.get(page_of(jane, "/timeline"))
    assert timeline.status_code == 200
    assert "Erased: what this event held can no longer be read." in timeline.text
    assert "jane@example.com" not in timeline.text
    assert browser.get(page_of(jane, "/time-travel")).status_code == 404


def test_the_timeline_filters_by_key_and_by_event(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    for plan in ("pro", "team"):
        post_patch(browser, jane, f'{{"plan": "{plan}"}}', csrf_token=csrf)
    by_key = browser.get(page_of(jane, "/timeline"), params={"key": "app_metadata.plan"})
    assert "3 on this page" in by_key.text
    by_event = browser.get(page_of(jane, "/timeline"), params={"event": "UserCreated"})
    assert "1 on this page" in by_event.text
    assert 'id="v1"' in by_event.text
    unknown = browser.get(page_of(jane, "/timeline"), params={"event": "Nope"})
    assert unknown.status_code == 400


def test_a_search_the_read_model_refuses_is_explained(browser: httpx.Client) -> None:
    signed_in_csrf(browser)
    response = browser.get("/console/users", params={"q": "email:(unclosed"})
    assert response.status_code == 400
    assert 'role="alert"' in response.text


def test_a_session_ends_when_the_administrators_password_changes(
    browser: httpx.Client, settings: Settings
) -> None:
    signed_in_csrf(browser)
    cookie = browser.cookies[COOKIE]
    changed = settings.replace(console_admin_password="Another-password-7")
    with RunningServer(build_http(changed)) as running:
        response = httpx.get(f"{running.base_url}/console/users", cookies={COOKIE: cookie})
        assert response.status_code == 303


def test_a_page_far_past_the_results_is_empty_not_an_error(
    browser: httpx.Client, jane: str
) -> None:
    signed_in_csrf(browser)
    response = browser.get("/console/users", params={"page": 1000, "per_page": 25})
    assert response.status_code == 200
    assert 'class="users"' not in response.text


def test_time_travel_to_a_moment_shows_the_version_current_then(
    browser: httpx.Client, container: Container, jane: str
) -> None:
    csrf = signed_in_csrf(browser)
    post_patch(browser, jane, '{"plan": "pro"}', csrf_token=csrf)
    created = UserHistory(container.profiles).scan(jane, HistoryFilter(), 2, 1).entries[0]
    moment = created.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
    then = browser.get(page_of(jane, "/time-travel"), params={"at": moment})
    assert then.status_code == 200
    assert "version 1, after <strong>UserCreated</strong>" in then.text
    assert '"plan": "free"' in html.unescape(then.text)
    refused = browser.get(page_of(jane, "/time-travel"), params={"at": "yesterday"})
    assert refused.status_code == 400
    before = browser.get(page_of(jane, "/time-travel"), params={"at": "2001-01-01T00:00"})
    assert before.status_code == 404


def test_the_stream_fragment_needs_a_session_and_lists_the_newest_events(
    browser: httpx.Client, jane: str
) -> None:
    assert browser.get("/console/stream/live").status_code == 303
    signed_in_csrf(browser)
    live = browser.get("/console/stream/live")
    assert live.status_code == 200
    assert "<html" not in live.text
    assert "UserCreated" in live.text
    assert page_of(jane, "/timeline") in live.text


def test_signing_out_ends_the_session(browser: httpx.Client) -> None:
    csrf = signed_in_csrf(browser)
    response = browser.post("/console/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert COOKIE not in browser.cookies
    assert browser.get("/console/users").status_code == 303


@pytest.fixture
def deleted_jane(browser: httpx.Client, jane: str) -> str:
    """Jane deleted (not erased) from the console by a signed-in browser; its CSRF token."""
    csrf = signed_in_csrf(browser)
    browser.post(page_of(jane, "/delete"), data={"csrf_token": csrf, "confirm": jane})
    return csrf


def test_time_travel_of_a_deleted_user_ends_at_their_last_profile(
    browser: httpx.Client, jane: str, deleted_jane: str
) -> None:
    then = browser.get(page_of(jane, "/time-travel"))
    assert then.status_code == 200
    assert f"{jane} (deleted)" in then.text
    assert 'max="1"' in then.text


def test_a_user_deleted_without_erasure_can_be_erased_from_their_timeline(
    browser: httpx.Client, jane: str, deleted_jane: str
) -> None:
    csrf = deleted_jane
    timeline = browser.get(page_of(jane, "/timeline"))
    assert "Deleted, not erased" in timeline.text
    assert "jane@example.com" in timeline.text
    erased = browser.post(
        page_of(jane, "/delete"), data={"csrf_token": csrf, "confirm": jane, "erase": "on"}
    )
    assert erased.status_code == 303
    after = browser.get(page_of(jane, "/timeline")).text
    assert "Deleted, not erased" not in after
    assert "jane@example.com" not in after


def test_the_timeline_and_time_travel_link_to_each_other(browser: httpx.Client, jane: str) -> None:
    signed_in_csrf(browser)
    timeline = browser.get(page_of(jane, "/timeline")).text
    assert f'href="{page_of(jane, "/time-travel")}?version=1"' in timeline
    travelled = browser.get(page_of(jane, "/time-travel"), params={"version": "1"}).text
    assert f'href="{page_of(jane, "/timeline")}?page=0#v1"' in travelled
