"""Property-based fuzzing: schemathesis generates requests from the served OpenAPI document and
sends them, with an admin token, to a real server on each store; no request may get a 5xx
(`not_a_server_error`), and a response whose status the document describes must match the schema
it gives for that status (`response_schema_conformance`).

`FUZZ_CASES` (default 1,000) is the number of cases per store, shared out over the operations,
each case valid or deliberately invalid for its operation (schemathesis' positive and negative
modes); `make fuzz` runs 10,000. Generation is deterministic (a fixed seed), every case runs
however many fail, and the failure lists the failing cases with curl commands that reproduce them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.server import RunningServer
from tests.support.users import PASSWORD

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]

CASES = int(os.environ.get("FUZZ_CASES", "1000"))
CONNECTION = "Username-Password-Authentication"
POSITION_HEADER = "X-Metaledger-Position"
# Users whose ids replace a generated `{id}` most of the time, so that reads, patches and
# histories reach real users and not only 404s: live ones, one deleted and one erased. DELETE
# keeps its generated ids, or the live users would soon all be gone.
LIVE = [f"auth0|fuzz-live-{n}" for n in range(3)]
DELETED, ERASED = "auth0|fuzz-deleted", "auth0|fuzz-erased"
KNOWN_IDS = [*LIVE, DELETED, ERASED]
# Failures shown per operation: the first ones say enough, and a broken route may fail them all.
SHOWN_PER_OPERATION = 5


@dataclass
class Fuzzing:
    """The server under test, its admin session, and what the run has seen."""

    store: str
    base_url: str
    session: requests.Session
    authorization: dict[str, str]
    # The newest position a write reported: a `min_position` past it waits 10 s for nothing.
    position: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    cases: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def write(self, method: str, path: str, body: dict[str, Any] | None, expected: int) -> None:
        response = self.session.request(method, f"{self.base_url}{path}", json=body)
        assert response.status_code == expected, response.text
        if POSITION_HEADER in response.headers:
            self.position = max(self.position, int(response.headers[POSITION_HEADER]))

    def send(self, case: Case, known_id: str | None) -> None:
        """Sends the case (aimed at a known user, when it names one) and records the outcome."""
        parameters = case.path_parameters or {}
        if known_id is not None and "id" in parameters and case.method.upper() != "DELETE":
            case.path_parameters = {**parameters, "id": known_id}
        min_position = (case.query or {}).get("min_position")
        if isinstance(min_position, int) and min_position > self.position:
            case.query = {**(case.query or {}), "min_position": self.position}
        label = case.operation.label
        self.cases[label] += 1
        try:
            response = case.call(base_url=self.base_url, session=self.session, timeout=60)
        except requests.RequestException as error:  # a crashed or hung server is a failure too
            self.fail(case, repr(error))
            return
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except schemathesis.errors.FailureGroup as group:
            titles = "; ".join(failure.title for failure in group.exceptions)
            self.fail(case, f"{titles}: {response.status_code} {response.text[:200].strip()}")

    def fail(self, case: Case, outcome: str) -> None:
        # The token is shown as [Filtered]: any admin token reproduces the case.
        curl = case.as_curl_command(self.authorization, base_url=self.base_url)
        self.failures.setdefault(case.operation.label, []).append(f"  {outcome}\n    {curl}")

    def summary(self) -> str:
        server_errors = sum(n for status, n in self.statuses.items() if status >= 500)
        return (
            f"{self.cases.total()} cases, 5xx = {server_errors}, "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"cases per operation {dict(sorted(self.cases.items()))}"
        )

    def failure_report(self) -> str:
        lines = []
        for label, reports in sorted(self.failures.items()):
            lines.append(f"{label}: {len(reports)} failing cases")
            lines.extend(reports[:SHOWN_PER_OPERATION])
        return "\n".join(lines)


def seed(fuzzing: Fuzzing) -> None:
    """The known users, with nested metadata and a few versions of history."""
    for user_id in KNOWN_IDS:
        body = {
            "connection": CONNECTION,
            "password": PASSWORD,
            "user_id": user_id,
            "email": f"{user_id.split('|')[1]}@example.com",
            "user_metadata": {"hobby": "surfing", "addresses": [{"city": "Paris"}]},
            "app_metadata": {"plan": "free", "roles": ["viewer"], "seats": 3},
        }
        fuzzing.write("POST", "/api/v2/users", body, 201)
        for plan in ("pro", "enterprise"):
            fuzzing.write(
                "PATCH", f"/api/v2/users/{user_id}", {"app_metadata": {"plan": plan}}, 200
            )
    fuzzing.write("DELETE", f"/api/v2/users/{DELETED}?erase=false", None, 204)
    fuzzing.write("DELETE", f"/api/v2/users/{ERASED}?erase=true", None, 204)


@pytest.fixture
def fuzzing(server: RunningServer, token: str, database_url: str | None) -> Iterator[Fuzzing]:
    store = "postgres" if database_url else "sqlite"
    authorization = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        session.headers.update(authorization)
        fuzzing = Fuzzing(store, server.base_url, session, authorization)
        seed(fuzzing)
        yield fuzzing


def fuzz_operation(fuzzing: Fuzzing, operation: Operation, cases: int) -> None:
    """`cases` deterministic cases of one operation, valid and invalid ones mixed."""
    strategy = st.one_of(
        operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
        operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )
    names_a_user = any(parameter.name == "id" for parameter in operation.path_parameters)
    known_ids = st.sampled_from([None, *KNOWN_IDS]) if names_a_user else st.none()

    # Nothing raises in here (every case runs), so there is nothing to shrink.
    @hypothesis.settings(
        max_examples=cases,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy, known_id=known_ids)
    def send(case: Case, known_id: str | None) -> None:
        fuzzing.send(case, known_id)

    send()


def inputs(operation: Operation) -> int:
    return len(list(operation.iter_parameters())) + len(list(operation.body))


def test_generated_requests_get_no_server_error_and_bodies_as_documented(fuzzing: Fuzzing) -> None:
    # The token goes with every request: the bearer scheme is not fuzzed.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{fuzzing.base_url}/openapi.json", config=config)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    # The operations with the fewest inputs first: they run out of distinct cases before their
    # share, and what they leave goes to the others.
    operations.sort(key=inputs)
    for done, operation in enumerate(operations):
        share = (CASES - fuzzing.cases.total()) // (len(operations) - done)
        fuzz_operation(fuzzing, operation, max(1, share))

    print(f"\nfuzzed {fuzzing.store}: {fuzzing.summary()}")
    if fuzzing.failures:
        pytest.fail(fuzzing.failure_report(), pytrace=False)
