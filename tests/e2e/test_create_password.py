"""POST /api/v2/users on a database connection requires a password, as Auth0's does: without one
it gets Auth0's payload-validation 400 and writes nothing, over HTTP and through the official
Python SDK, on both stores."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from auth0.management import Auth0, BadRequestError

from metaledger.api.bootstrap import Container
from tests.e2e.test_hostile_input import CONNECTION, position
from tests.support.server import RunningServer

EMAIL = "nopass@example.com"
MISSING_PASSWORD = {
    "statusCode": 400,
    "error": "Bad Request",
    "message": "Payload validation error: 'Missing required property: password'.",
    "errorCode": "invalid_body",
}


def assert_nothing_written(http: httpx.Client, container: Container, before: int) -> None:
    assert position(container) == before
    found = http.get("/api/v2/users-by-email", params={"email": EMAIL})
    assert (found.status_code, found.json()) == (200, [])


@pytest.mark.parametrize(
    "sent",
    [
        {"json": {"connection": CONNECTION, "email": EMAIL, "user_metadata": {"hobby": "chess"}}},
        {"data": {"connection": CONNECTION, "email": EMAIL}},
    ],
    ids=["json", "form"],
)
def test_a_create_without_a_password_is_refused_with_400_and_writes_nothing(
    http: httpx.Client, container: Container, sent: dict[str, Any]
) -> None:
    before = position(container)
    response = http.post("/api/v2/users", **sent)
    assert (response.status_code, response.json()) == (400, MISSING_PASSWORD)
    assert_nothing_written(http, container, before)


def test_the_sdk_raises_bad_request_for_a_create_without_a_password(
    server: RunningServer, token: str, http: httpx.Client, container: Container
) -> None:
    sdk = Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)
    before = position(container)
    with pytest.raises(BadRequestError) as refused:
        sdk.users.create(connection=CONNECTION, email=EMAIL)
    assert (refused.value.status_code, refused.value.body) == (400, MISSING_PASSWORD)
    assert_nothing_written(http, container, before)
