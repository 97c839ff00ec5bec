"""Log records through the official Auth0 SDKs' logs clients (Python and Node.js), unchanged:
their pagers walk a few thousand records to the end, on both stores."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from auth0.management import Auth0, BadRequestError

from metaledger.api.bootstrap import Container
from metaledger.domain.user import format_timestamp
from metaledger.projections.audit.records import FAILED_LOGIN, WRONG_PASSWORD, LogRecord, new_log_id
from tests.support.server import RunningServer

RECORDS = 2500
NODE_SDK = Path(__file__).parent / "node_sdk"


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


@pytest.fixture
def failed_logins(container: Container) -> dict[str, set[str]]:
    """RECORDS failed logins over the last days, one in five from 198.51.100.7; the log ids
    by type code."""
    start = datetime.now(UTC) - timedelta(days=3)
    records = []
    for number in range(RECORDS):
        moment = start + timedelta(seconds=60 * number)
        records.append(
            LogRecord(
                log_id=new_log_id(moment),
                date=format_timestamp(moment),
                type=WRONG_PASSWORD if number % 5 else FAILED_LOGIN,
                user_name=f"user{number}@example.com",
                ip="198.51.100.7" if number % 5 == 0 else f"203.0.113.{number % 200}",
            )
        )
    container.audit.record(records)
    by_type: dict[str, set[str]] = {}
    for record in records:
        by_type.setdefault(record.type, set()).add(record.log_id)
    return by_type


def test_the_python_sdk_pager_walks_every_record(
    sdk: Auth0, failed_logins: dict[str, set[str]]
) -> None:
    walked = [record.log_id for record in sdk.logs.list(per_page=100, search="type:fp")]

    assert (len(walked), set(walked)) == (len(failed_logins["fp"]), failed_logins["fp"])
    assert walked == sorted(walked, reverse=True)  # newest first


def test_the_python_sdk_reads_the_total_and_a_record(
    sdk: Auth0, failed_logins: dict[str, set[str]]
) -> None:
    pager = sdk.logs.list(per_page=10, search='type:f AND ip:"198.51.100.7"')
    first = (pager.items or [])[0]

    assert (pager.response.total, len(pager.items or [])) == (len(failed_logins["f"]), 10)
    assert sdk.logs.get(first.log_id or "").user_name == first.user_name


def test_the_python_sdk_raises_bad_request_for_an_unparsable_query(sdk: Auth0) -> None:
    with pytest.raises(BadRequestError) as raised:
        sdk.logs.list(search="type:(f")
    assert raised.value.body["errorCode"] == "invalid_query_string"


def test_the_node_sdk_pager_walks_every_record(
    server: RunningServer, token: str, failed_logins: dict[str, set[str]]
) -> None:
    walked = subprocess.run(
        ["node", str(NODE_SDK / "walk_logs.mjs"), f"{server.base_url}/api/v2", token, "", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    log_ids = json.loads(walked.stdout)
    every = set().union(*failed_logins.values())
    # The records of the fixture, and the token exchange that got the test's token.
    assert set(log_ids) >= every
    assert len(log_ids) == len(set(log_ids)) == len(every) + 1
