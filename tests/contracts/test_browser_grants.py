"""The contract of the browser grants store (sessions, codes, login tickets, refresh tokens), on
SQLite and PostgreSQL: a secret reads back until it expires, is taken at most once (also by
processes racing for it), a replay names its family, and a family is revoked whole.

The contract is written once; `TestOnSQLite` and `TestOnPostgres` run it on one backend each.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from metaledger.api import stores
from metaledger.api.auth.browser_grants import CODE, REFRESH_TOKEN, SESSION, BrowserGrants
from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from tests.support.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def grants(profiles: UserProfiles, clock: Clock) -> BrowserGrants:
    stores.browser_grants(profiles)  # the table, as the server makes it
    return BrowserGrants(stores._side_tables(profiles), clock)


class BrowserGrantsContract:
    """What either backend must do. Subclasses set `backend`."""

    def test_a_session_reads_back_many_times(self, grants: BrowserGrants) -> None:
        secret = grants.issue(SESSION, {"user_id": "auth0|1"}, 60)
        assert grants.peek(SESSION, secret) == {"user_id": "auth0|1"}
        assert grants.peek(SESSION, secret) == {"user_id": "auth0|1"}

    def test_a_secret_of_another_kind_is_unknown(self, grants: BrowserGrants) -> None:
        secret = grants.issue(SESSION, {"user_id": "auth0|1"}, 60)
        assert grants.take(CODE, secret) is None

    def test_a_code_is_taken_once(self, grants: BrowserGrants) -> None:
        secret = grants.issue(CODE, {"user_id": "auth0|1"}, 60)
        assert grants.take(CODE, secret) == {"user_id": "auth0|1"}
        assert grants.take(CODE, secret) is None

    def test_an_expired_secret_is_unknown(self, grants: BrowserGrants, clock: Clock) -> None:
        secret = grants.issue(CODE, {"user_id": "auth0|1"}, 60)
        clock.now += 60
        assert grants.peek(CODE, secret) is None
        assert grants.take(CODE, secret) is None

    def test_a_revoked_session_is_gone(self, grants: BrowserGrants) -> None:
        secret = grants.issue(SESSION, {"user_id": "auth0|1"}, 60)
        grants.revoke(SESSION, secret)
        assert grants.peek(SESSION, secret) is None

    def test_a_replayed_refresh_token_names_its_family(self, grants: BrowserGrants) -> None:
        secret = grants.issue(REFRESH_TOKEN, {"n": 1}, 60, family="fam")
        assert grants.taken_family(REFRESH_TOKEN, secret) is None
        grants.take(REFRESH_TOKEN, secret)
        assert grants.taken_family(REFRESH_TOKEN, secret) == "fam"

    def test_revoking_a_family_revokes_its_live_tokens(self, grants: BrowserGrants) -> None:
        used = grants.issue(REFRESH_TOKEN, {"n": 1}, 60, family="fam")
        grants.take(REFRESH_TOKEN, used)
        live = grants.issue(REFRESH_TOKEN, {"n": 2}, 60, family="fam")
        other = grants.issue(REFRESH_TOKEN, {"n": 3}, 60, family="other")
        grants.revoke_family("fam")
        assert grants.take(REFRESH_TOKEN, live) is None
        assert grants.take(REFRESH_TOKEN, other) == {"n": 3}

    def test_only_one_of_racing_processes_takes_a_code(
        self, profiles: UserProfiles, settings: Settings
    ) -> None:
        secret = stores.browser_grants(profiles).issue(CODE, {"user_id": "auth0|1"}, 3600)
        others = [build_profiles(settings) for _ in range(4)]
        try:
            takers = [stores.browser_grants(profiles) for profiles in others]
            with ThreadPoolExecutor(len(takers)) as pool:
                taken = list(pool.map(lambda taker: taker.take(CODE, secret), takers))
        finally:
            for profiles in others:
                profiles.close()
        assert taken.count(None) == len(takers) - 1


class TestOnSQLite(BrowserGrantsContract):
    backend = "sqlite"


class TestOnPostgres(BrowserGrantsContract):
    backend = "postgres"
