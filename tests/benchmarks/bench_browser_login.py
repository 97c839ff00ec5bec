"""Browser logins/s: the authorization-code flow end to end (GET /authorize's hosted page, the
login form's post, the code, POST /oauth/token with PKCE) against the password grant, measured
in the same run, interleaved, with the documented argon2id parameters; and the hosted login
page's time to first byte.

Run: .venv/bin/python -m tests.benchmarks.bench_browser_login [--flows N] [--rounds N]
     [--pages N]

The server is a real `metaledger serve` process on SQLite; the load comes from this process on
the same machine. Each flow starts with an empty cookie jar, so each one shows the login page
and proves the password (one argon2id verification, as a password grant costs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson

from tests.benchmarks.harness import CLIENT_ID, Figures, admin_token, serve

APP = "bench-spa"
CALLBACK = "http://localhost:5000/callback"
CONNECTION = "Username-Password-Authentication"
PASSWORD = "Bench-mark-2-pass"
REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
APPLICATIONS = [
    {
        "client_id": APP,
        "app_type": "spa",
        "grant_types": ["authorization_code", REALM_GRANT],
        "callbacks": [CALLBACK],
    }
]
Flow = Callable[[aiohttp.ClientSession, str], Awaitable[bool]]


async def code_flow(session: aiohttp.ClientSession, email: str) -> bool:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "client_id": APP,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with session.get("/authorize", params=params) as page:
        fields = dict(HIDDEN.findall((await page.text()).split("</form>")[0]))
    form = {**fields, "email": email, "password": PASSWORD}
    async with session.post("/u/login", data=form, allow_redirects=False) as answer:
        location = answer.headers.get("location", "")
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    token_form = {
        "grant_type": "authorization_code",
        "client_id": APP,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CALLBACK,
    }
    async with session.post("/oauth/token", data=token_form) as response:
        return response.status == 200 and "id_token" in await response.json()


async def password_grant(session: aiohttp.ClientSession, email: str) -> bool:
    body = {
        "grant_type": REALM_GRANT,
        "client_id": APP,
        "username": email,
        "password": PASSWORD,
        "realm": CONNECTION,
        "scope": "openid profile email",
    }
    async with session.post("/oauth/token", json=body) as response:
        return response.status == 200 and "id_token" in await response.json()


async def run(base_url: str, flow: Flow, emails: list[str], flows: int, workers: int) -> Figures:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(flows))

    async def worker() -> None:
        nonlocal errors
        # unsafe: the jar keeps cookies of an IP address (the server's 127.0.0.1), as browsers do
        async with aiohttp.ClientSession(
            base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:
            for index in counter:
                session.cookie_jar.clear()  # a new browser: no session, the login page again
                started = time.perf_counter()
                if not await flow(session, emails[index % len(emails)]):
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return Figures("", flows, time.perf_counter() - started, latencies, errors)


async def first_bytes(base_url: str, pages: int) -> list[float]:
    """Milliseconds to the hosted page's response headers, one request at a time."""
    params = {
        "client_id": APP,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    times = []
    async with aiohttp.ClientSession(base_url) as session:
        for _ in range(pages):
            started = time.perf_counter()
            async with session.get("/authorize", params=params) as page:
                times.append((time.perf_counter() - started) * 1000)
                await page.read()
    return times


def merged(name: str, rounds: list[Figures]) -> Figures:
    return Figures(
        name,
        sum(r.requests for r in rounds),
        sum(r.seconds for r in rounds),
        [ms for r in rounds for ms in r.latencies_ms],
        sum(r.errors for r in rounds),
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--flows", type=int, default=20, help="logins per round and kind")
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--pages", type=int, default=300)
    options.add_argument("--users", type=int, default=8)
    args = options.parse_args()
    env = {"METALEDGER_APPLICATIONS": orjson.dumps(APPLICATIONS).decode()}
    with serve(None, env) as base_url:
        admin_token(base_url)
        emails = [f"user{n}@example.com" for n in range(args.users)]

        async def sign_up_all() -> None:
            async with aiohttp.ClientSession(base_url) as session:
                for email in emails:
                    body = {
                        "client_id": CLIENT_ID,
                        "email": email,
                        "password": PASSWORD,
                        "connection": CONNECTION,
                    }
                    async with session.post("/dbconnections/signup", json=body) as response:
                        assert response.status == 200, await response.text()

        asyncio.run(sign_up_all())
        ordered = sorted(asyncio.run(first_bytes(base_url, args.pages)))
        p50, p95 = ordered[len(ordered) // 2], ordered[int(0.95 * len(ordered))]
        print(f"hosted login page (GET /authorize), first byte: p50 {p50:.2f} ms  p95 {p95:.2f} ms")
        for workers in (1, 2):
            code: list[Figures] = []
            grant: list[Figures] = []
            for _ in range(args.rounds):  # interleaved, so both see the same machine
                grant.append(
                    asyncio.run(run(base_url, password_grant, emails, args.flows, workers))
                )
                code.append(asyncio.run(run(base_url, code_flow, emails, args.flows, workers)))
            baseline = merged(f"password grant (baseline), c={workers}", grant)
            print(baseline.line().replace("req/s", "logins/s"))
            print(
                merged(f"authorization-code flow, c={workers}", code)
                .line(baseline)
                .replace("req/s", "logins/s")
            )


if __name__ == "__main__":
    main()
