"""Concurrent conflicting requests against the real server on PostgreSQL: the losers get their
refusal, every other request succeeds, no request gets a 5xx, and the server stays healthy."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import httpx
import pytest

from tests.support.concurrency import at_once
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
ROUNDS = 10
UNIQUE = 12  # unrelated creates sent with the conflicting requests of a round

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

Request = tuple[str, str, dict[str, Any]]  # method, path, JSON body


def new_user(user_id: str, email: str) -> dict[str, Any]:
    return {"connection": CONNECTION, "password": PASSWORD, "user_id": user_id, "email": email}


def create(user_id: str, email: str) -> Request:
    return ("POST", "/api/v2/users", new_user(user_id, email))


def patch(user_id: str, body: dict[str, Any]) -> Request:
    return ("PATCH", f"/api/v2/users/{user_id}", body)


def statuses_at_once(http: httpx.Client, requests: Sequence[Request]) -> list[int]:
    calls = [partial(http.request, method, path, json=body) for method, path, body in requests]
    responses = at_once(calls)
    assert all(isinstance(response, httpx.Response) for response in responses), responses
    return [cast(httpx.Response, response).status_code for response in responses]


def test_concurrent_conflicting_requests_refuse_the_losers_and_never_answer_5xx(
    http: httpx.Client,
) -> None:
    existing = [f"auth0|existing{n}" for n in range(8)]
    for n, user_id in enumerate(existing):
        assert http.post("/api/v2/users", json=new_user(user_id, f"e{n}@example.com")).is_success
    patched, movers = existing[:6], existing[6:]
    for round_ in range(ROUNDS):
        twins = [f"auth0|twin{round_}_{n}" for n in range(2)]
        requests = [
            *(create(user_id, f"twin{round_}@example.com") for user_id in twins),
            *(
                create(f"auth0|unique{round_}_{n}", f"u{round_}_{n}@example.com")
                for n in range(UNIQUE)
            ),
            *(
                patch(user_id, {"app_metadata": {f"r{round_}": n}})
                for n, user_id in enumerate(patched)
            ),
            *(patch(user_id, {"email": f"moved{round_}@example.com"}) for user_id in movers),
        ]

        statuses = statuses_at_once(http, requests)

        assert all(status < 500 for status in statuses), statuses
        assert sorted(statuses[:2]) == [201, 409], statuses
        patches = 2 + UNIQUE
        assert statuses[2:patches] == [201] * UNIQUE, statuses
        assert statuses[patches:-2] == [200] * len(patched), statuses
        # Changing an email to one in use is refused with 400, as Auth0 does.
        assert sorted(statuses[-2:]) == [200, 400], statuses
        winner = twins[statuses[:2].index(201)]
        found = http.get("/api/v2/users-by-email", params={"email": f"twin{round_}@example.com"})
        assert [user["user_id"] for user in found.json()] == [winner]
        loser = twins[statuses[:2].index(409)]
        assert http.get(f"/api/v2/users/{loser}").status_code == 404
    for n, user_id in enumerate(patched):
        stored = http.get(f"/api/v2/users/{user_id}").json()
        assert stored["app_metadata"] == {f"r{r}": n for r in range(ROUNDS)}
    later = [
        http.post("/api/v2/users", json=new_user(f"auth0|later{n}", f"l{n}@example.com"))
        for n in range(40)
    ]
    assert [response.status_code for response in later] == [201] * 40
    assert http.get("/readyz").status_code == 200
