"""A known workload against a running `metaledger serve`, and reading its /metrics back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from metaledger.api.auth.clients import PASSWORD_REALM
from metaledger.domain.profiles import DEFAULT_CONNECTION
from tests.support.serve import ServeProcess

SPA_CLIENT_ID = "telemetry-spa"
USER_PASSWORD = "Telemetry-horse-battery-41"
WRONG_PASSWORD = "Not-the-password-97"
MAX_ATTEMPTS = 2
# Variables for a serve that the workload below can log into (cheap hashes: the figures are
# about counting, not hashing).
VARIABLES = {
    "METALEDGER_APPLICATIONS": json.dumps(
        [{"client_id": SPA_CLIENT_ID, "grant_types": [PASSWORD_REALM]}]
    ),
    "METALEDGER_ARGON2_TIME_COST": "1",
    "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024",
    "METALEDGER_BRUTE_FORCE_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
}

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Workload:
    """What `run_workload` did, and every secret it handled."""

    health_checks: int = 20
    patches: int = 3
    logins: int = 2  # successful ones; then MAX_ATTEMPTS wrong passwords and one locked out
    secrets: list[str] = field(default_factory=list)


def run_workload(serve: ServeProcess, workload: Workload) -> None:
    """Health checks (each on a connection of its own, so that the kernel spreads them over the
    HTTP processes), a user created and patched, logins that succeed, fail and are locked out."""
    token = serve.token()
    admin = {"Authorization": f"Bearer {token}"}
    base = serve.base_url
    for _ in range(workload.health_checks):
        assert httpx.get(f"{base}/healthz").status_code == 200
    created = httpx.post(
        f"{base}/api/v2/users",
        headers=admin,
        json={
            "connection": DEFAULT_CONNECTION,
            "email": "tel@example.com",
            "password": USER_PASSWORD,
        },
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["user_id"]
    for index in range(workload.patches):
        patched = httpx.patch(
            f"{base}/api/v2/users/{user_id}",
            headers=admin,
            json={"app_metadata": {"plan": f"plan-{index}"}},
        )
        assert patched.status_code == 200, patched.text
    user_tokens = []
    for _ in range(workload.logins):
        answer = httpx.post(f"{base}/oauth/token", json=_login(USER_PASSWORD))
        assert answer.status_code == 200, answer.text
        user_tokens.append(answer.json()["access_token"])
    for _ in range(MAX_ATTEMPTS):
        assert httpx.post(f"{base}/oauth/token", json=_login(WRONG_PASSWORD)).status_code == 403
    assert httpx.post(f"{base}/oauth/token", json=_login(WRONG_PASSWORD)).status_code == 429
    workload.secrets += [token, *user_tokens, USER_PASSWORD, WRONG_PASSWORD, "$argon2"]


def _login(password: str) -> dict[str, str]:
    return {
        "grant_type": PASSWORD_REALM,
        "client_id": SPA_CLIENT_ID,
        "username": "tel@example.com",
        "password": password,
        "realm": DEFAULT_CONNECTION,
    }


def scrape(port: int) -> Samples:
    """Every sample of the metrics server on `port`, by name and labels."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
