"""User search through the official Auth0 Python SDK, unchanged, on both stores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from auth0.management import Auth0, BadRequestError

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser
from metaledger.projections.search.store import wait_for
from tests.support.server import RunningServer
from tests.support.users import PASSWORD

ACTOR = Actor(kind="client", id="seed", grant="client-credentials")
USERS = 230


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


@pytest.fixture
def pro_users(container: Container) -> set[str]:
    """USERS users, two in three on the pro plan, in the read model; the pro ones' ids."""
    pro = set()
    for number in range(USERS):
        plan = "free" if number % 3 == 0 else "pro"
        written = container.profiles.create_user(
            NewUser(
                connection=DEFAULT_CONNECTION,
                profile={"email": f"user{number}@example.com"},
                app_metadata={"plan": plan},
            ),
            ACTOR,
        )
        if plan == "pro":
            pro.add(written.user.user_id)
    end = container.profiles.recorder.max_notification_id() or 0
    assert wait_for(container.search, end, timeout=30)
    return pro


def test_the_sdk_pager_walks_a_search_to_its_end(sdk: Auth0, pro_users: set[str]) -> None:
    pager = sdk.users.list(q='app_metadata.plan:"pro"', search_engine="v3", per_page=50)
    pages = list(pager.iter_pages())
    walked = [user.user_id for page in pages for user in page.items or []]
    assert (len(walked), set(walked), len(pages)) == (len(pro_users), pro_users, 4)


def test_the_sdk_reads_the_total_of_a_search(sdk: Auth0, pro_users: set[str]) -> None:
    pager = sdk.users.list(q='app_metadata.plan:"pro"', search_engine="v3", per_page=10)
    assert (pager.response.total, pager.response.start, pager.response.length) == (
        len(pro_users),
        0,
        10,
    )


def test_the_sdk_pager_walks_a_sorted_search_in_order(sdk: Auth0, pro_users: set[str]) -> None:
    pager = sdk.users.list(
        q='app_metadata.plan:"pro"', search_engine="v3", per_page=100, sort="email:-1"
    )
    emails = [user.email or "" for user in pager]
    assert emails == sorted(emails, reverse=True)


def test_a_user_created_through_the_sdk_is_found_by_waiting_for_its_position(
    sdk: Auth0,
) -> None:
    created = sdk.users.with_raw_response.create(
        connection=DEFAULT_CONNECTION,
        password=PASSWORD,
        email="Fresh@Example.com",
        app_metadata={"plan": "trial"},
    )
    position = created.headers["x-metaledger-position"]
    found = sdk.users.list(
        q="email:FRESH@example.com AND app_metadata.plan:trial",
        search_engine="v3",
        request_options={"additional_query_parameters": {"min_position": position}},
    )
    assert [user.user_id for user in found] == [created.data.user_id]


def test_the_sdk_raises_bad_request_for_an_unparsable_query(sdk: Auth0) -> None:
    with pytest.raises(BadRequestError) as raised:
        sdk.users.list(q="name:(jane", search_engine="v3")
    assert raised.value.body["errorCode"] == "invalid_query_string"


NODE_SDK = Path(__file__).parent / "node_sdk"


def test_the_node_sdk_pager_walks_a_search_to_its_end(
    server: RunningServer, token: str, pro_users: set[str]
) -> None:
    walked = subprocess.run(
        [
            "node",
            str(NODE_SDK / "walk_search.mjs"),
            f"{server.base_url}/api/v2",
            token,
            'app_metadata.plan:"pro"',
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    user_ids = json.loads(walked.stdout)
    assert (len(user_ids), set(user_ids)) == (len(pro_users), pro_users)
