"""Every JSON body ends with a newline, so a shell prompt lands on a line of its own."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import RunningServer


@pytest.mark.parametrize("database_url", [None], ids=["sqlite"])
def test_success_error_and_oauth_bodies_end_with_a_newline(server: RunningServer) -> None:
    answers = [
        httpx.get(f"{server.base_url}/healthz"),
        httpx.get(f"{server.base_url}/api/v2/users/auth0|nobody"),
        httpx.post(f"{server.base_url}/oauth/token", data={"grant_type": "password"}),
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 401]
    assert all(answer.content.endswith(b"}\n") for answer in answers)
    assert all(answer.json() for answer in answers)
