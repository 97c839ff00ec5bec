"""Rules in the login pipeline: what a 5-rule pipeline adds to a password login, the sandbox's
pipeline runs/s, and a hostile `while (true) {}` rule's effect on other logins.

Run: .venv/bin/python -m tests.benchmarks.bench_rules [--users N] [--logins N] [--runs N]
     [--hostile-deadline S]

The server is a real `metaledger serve` process with argon2id at a cheap setting (time cost 1,
1 MiB, parallelism 1), so that the hash does not drown what the rules add; logins come one at a
time (latency, not throughput). Baselines measured in the same run: the same logins with no
rule, and pool runs of an empty pipeline. The five rules add claims from the user, the
configuration and lodash, and branch on the connection and the email; none writes metadata (a
write is an event like any other, measured in bench_users_http).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import httpx

from metaledger.api.sandbox.pool import SandboxFailure, Setup, WorkerPool
from tests.benchmarks.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    Figures,
    admin_token,
    load,
    merged,
    serve,
)

CONNECTION = "Username-Password-Authentication"
PASSWORD = "Bench-mark-2-pass"
REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"
CHEAP_ARGON2 = {
    "METALEDGER_ARGON2_TIME_COST": "1",
    "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024",
    "METALEDGER_ARGON2_PARALLELISM": "1",
}
FIVE_RULES = [
    """function addEmail(user, context, callback) {
  context.accessToken['https://example.com/email'] = user.email;
  callback(null, user, context);
}""",
    """function hobby(user, context, callback) {
  user.user_metadata = user.user_metadata || {};
  context.idToken['https://example.com/hobby'] = user.user_metadata.hobby || null;
  callback(null, user, context);
}""",
    """function plan(user, context, callback) {
  user.app_metadata = user.app_metadata || {};
  context.idToken['https://example.com/plan'] = user.app_metadata.plan || 'free';
  callback(null, user, context);
}""",
    """function onlyDatabase(user, context, callback) {
  if (context.connectionStrategy !== 'auth0') {
    return callback(new UnauthorizedError('database users only'));
  }
  context.idToken['https://example.com/region'] = configuration.REGION;
  callback(null, user, context);
}""",
    """function domain(user, context, callback) {
  var _ = require('lodash');
  context.idToken['https://example.com/domain'] = _.last(user.email.split('@'));
  callback(null, user, context);
}""",
]
HOSTILE_EMAIL = "hostile@example.com"
HOSTILE_RULE = """function (user, context, callback) {
  if (user.email === 'hostile@example.com') { while (true) {} }
  callback(null, user, context);
}"""


def login_body(email: str) -> dict[str, Any]:
    return {
        "grant_type": REALM_GRANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "username": email,
        "password": PASSWORD,
        "realm": CONNECTION,
        "scope": "openid profile email",
    }


def logins(base_url: str, token: str, name: str, emails: list[str], count: int) -> Figures:
    async def login(session: aiohttp.ClientSession, index: int) -> int:
        body = login_body(emails[index % len(emails)])
        async with session.post("/oauth/token", json=body) as response:
            await response.read()
            return response.status

    return load(name, base_url, token, login, count, concurrency=1)


def bench_logins(users: int, count: int, hostile_deadline: float) -> None:
    env = {**CHEAP_ARGON2, "METALEDGER_SANDBOX_DEADLINE_SECONDS": str(hostile_deadline)}
    with serve(None, env) as base_url:
        token = admin_token(base_url)
        management = httpx.Client(
            base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}
        )
        emails = [f"user{n}@example.com" for n in range(users)]
        for email in [*emails, HOSTILE_EMAIL]:
            created = management.post(
                "/users",
                json={
                    "connection": CONNECTION,
                    "email": email,
                    "password": PASSWORD,
                    "user_metadata": {"hobby": "kites"},
                    "app_metadata": {"plan": "pro"},
                },
            )
            created.raise_for_status()
        management.put("/rules-configs/REGION", json={"value": "eu"}).raise_for_status()
        rule_ids = []
        for number, script in enumerate(FIVE_RULES):
            body = {"name": f"rule {number}", "script": script, "order": number}
            created = management.post("/rules", json=body)
            created.raise_for_status()
            rule_ids.append(created.json()["id"])

        def with_rules(enabled: bool) -> None:
            for rule_id in rule_ids:
                management.patch(f"/rules/{rule_id}", json={"enabled": enabled}).raise_for_status()

        # Rounds alternate, so that drift on a shared machine falls on both sides alike.
        rounds = 5
        without: list[Figures] = []
        with_five: list[Figures] = []
        for enabled in (False, True):
            with_rules(enabled)
            logins(base_url, token, "warm-up", emails, 50)
        for _ in range(rounds):
            with_rules(False)
            without.append(logins(base_url, token, "", emails, count // rounds))
            with_rules(True)
            with_five.append(logins(base_url, token, "", emails, count // rounds))
        baseline = merged("login, no rule (baseline)", without)
        five = merged("login, 5 rules", with_five)
        print(baseline.line())
        print(five.line(baseline))
        added_p50 = five.percentile(0.5) - baseline.percentile(0.5)
        added_p99 = five.percentile(0.99) - baseline.percentile(0.99)
        print(f"{'added by the 5 rules':<36} p50 {added_p50:+.2f} ms  p99 {added_p99:+.2f} ms")
        management.post(
            "/rules", json={"name": "hostile", "script": HOSTILE_RULE, "order": 99}
        ).raise_for_status()
        bench_hostile(base_url, token, emails, hostile_deadline)


def bench_hostile(base_url: str, token: str, emails: list[str], deadline: float) -> None:
    """One login meets `while (true) {}` while others go on beside it."""
    outcome: dict[str, Any] = {}

    def hostile_login() -> None:
        started = time.perf_counter()
        response = httpx.post(
            f"{base_url}/oauth/token", json=login_body(HOSTILE_EMAIL), timeout=120
        )
        outcome["seconds"] = time.perf_counter() - started
        outcome["status"] = response.status_code
        outcome["body"] = response.json()

    thread = threading.Thread(target=hostile_login)
    thread.start()
    time.sleep(0.2)  # the hostile rule is spinning
    during: list[float] = []
    errors = 0
    with httpx.Client(base_url=base_url, timeout=120) as client:
        index = 0
        while thread.is_alive():
            started = time.perf_counter()
            status = client.post("/oauth/token", json=login_body(emails[index % len(emails)]))
            during.append((time.perf_counter() - started) * 1000)
            errors += status.status_code != 200
            index += 1
    thread.join()
    figures = Figures("other logins during it", len(during), 1.0, during, errors)
    print(
        f"{'other logins during the hostile one':<36} {len(during):8d} logins  "
        f"p50 {figures.percentile(0.5):6.2f} ms  p99 {figures.percentile(0.99):6.2f} ms  "
        f"errors {errors}"
    )
    print(
        f"{'hostile login: time to the error':<36} {outcome['seconds']:8.2f} s "
        f"(deadline {deadline:.0f} s)  -> {outcome['status']} {outcome['body']}"
    )


def bench_pool(runs: int) -> None:
    """Pipeline runs/s of the worker pool itself (2 workers, 4 threads feeding them)."""
    body = {
        "rules": [
            {"id": f"rul_{n}", "name": f"rule {n}", "script": script}
            for n, script in enumerate(FIVE_RULES)
        ],
        "actions": [],
        "configuration": {"REGION": "eu"},
        "domain": "bench",
        "base_url": "http://bench/",
    }
    run_input = {
        "user": {
            "user_id": "auth0|1",
            "email": "a@example.com",
            "user_metadata": {"hobby": "kites"},
            "app_metadata": {"plan": "pro"},
        },
        "context": {"idToken": {}, "accessToken": {}, "connectionStrategy": "auth0"},
        "event": "{}",
        "trigger": "onExecutePostLogin",
    }
    pool = WorkerPool(2, 64 * 1024 * 1024)
    try:
        for name, setup in (
            ("pool runs, empty pipeline (baseline)", Setup("empty", {**body, "rules": []})),
            ("pool runs, 5 rules", Setup("five", body)),
        ):

            def one(_: int, setup: Setup = setup) -> None:
                try:
                    pool.run(setup, run_input, 20, lambda effects: [])
                except SandboxFailure as failure:
                    raise SystemExit(f"run failed: {failure.message}") from None

            with ThreadPoolExecutor(4) as threads:
                list(threads.map(one, range(200)))  # warm: workers up, contexts built
                started = time.perf_counter()
                list(threads.map(one, range(runs)))
                elapsed = time.perf_counter() - started
            print(f"{name:<36} {runs / elapsed:8.0f} runs/s")
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--logins", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--hostile-deadline", type=float, default=20.0)
    args = parser.parse_args()
    print("argon2id at a cheap setting: time cost 1, 1 MiB, parallelism 1")
    bench_pool(args.runs)
    bench_logins(args.users, args.logins, args.hostile_deadline)


if __name__ == "__main__":
    main()
