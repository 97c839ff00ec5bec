"""Whatever a browser sends the console, no page answers 500: random query parameters on every
page, random editor forms, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from metaledger.api.bootstrap import Container
from metaledger.api.http.console.session import COOKIE
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from tests.support.console import console_settings, signed_in_csrf
from tests.support.server import RunningServer
from tests.support.users import create_user

PAGES = ("/users", "/users/{id}", "/users/{id}/timeline", "/users/{id}/time-travel", "/stream")
PARAMETERS = ("q", "page", "per_page", "sort", "key", "event", "from", "version", "at", "compare")
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "1", "created_at:-1", "UserCreated", "app_metadata", "2026-01-01"]),
)
CASES = hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return console_settings(settings)


@pytest.fixture
def browser(server: RunningServer, container: Container) -> Iterator[tuple[httpx.Client, str, str]]:
    """A signed-in client, its CSRF token and a user's id."""
    user_id = create_user(container.profiles, Actor("client", "setup"), {"email": "x@example.com"})
    with httpx.Client(base_url=server.base_url) as client:
        yield client, signed_in_csrf(client), user_id


@CASES
@given(
    page=st.sampled_from(PAGES),
    params=st.dictionaries(st.sampled_from(PARAMETERS), VALUES, max_size=4),
)
def test_no_page_answers_500_whatever_its_query(
    browser: tuple[httpx.Client, str, str], page: str, params: dict[str, str]
) -> None:
    client, _, user_id = browser
    response = client.get("/console" + page.format(id=quote(user_id, safe="")), params=params)
    assert response.status_code < 500 or response.status_code == 503, response.text
    assert COOKIE in client.cookies


@CASES
@given(
    bucket=st.sampled_from(["app_metadata", "user_metadata", "", "profile"]),
    patch=st.one_of(
        st.text(max_size=60),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=8,
        ).map(json.dumps),
    ),
    action=st.sampled_from(["preview", "save", ""]),
)
def test_no_editor_form_answers_500(
    browser: tuple[httpx.Client, str, str], bucket: str, patch: str, action: str
) -> None:
    client, csrf, user_id = browser
    response = client.post(
        f"/console/users/{quote(user_id, safe='')}/metadata",
        data={"csrf_token": csrf, "bucket": bucket, "patch": patch, "action": action},
    )
    assert response.status_code in (200, 303, 400), response.text
