"""Custom-database logins: what a legacy `login` script costs a password login, the first
(migrating) login against the later local ones, and logins without import mode.

Run: .venv/bin/python -m tests.benchmarks.bench_custom_db [--users N] [--bcrypt-cost N]

The server is a real `metaledger serve` process with argon2id at a cheap setting (time cost 1,
1 MiB, parallelism 1), and the legacy store a real PostgreSQL database with a `users` table whose
bcrypt hashes have cost `--bcrypt-cost` (4 by default: the hash, paid once per migrated user,
would otherwise drown what the sandbox and the query add; at Auth0's usual 10 add about 50 ms).
The login script is Auth0's PostgreSQL template. Logins come one at a time (latency). Baseline
measured in the same run: the same number of logins of local users of a configured connection.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import bcrypt
import httpx
import psycopg

from tests.benchmarks.harness import CLIENT_ID, CLIENT_SECRET, Figures, admin_token, load, serve
from tests.support.postgres import PostgresServer

CONNECTION = "Username-Password-Authentication"
PASSWORD = "Bench-mark-2-pass"
REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"
CHEAP_ARGON2 = {
    "METALEDGER_ARGON2_TIME_COST": "1",
    "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024",
    "METALEDGER_ARGON2_PARALLELISM": "1",
}
LOGIN = """function login(email, password, callback) {
  const bcrypt = require('bcrypt');
  const postgres = require('pg');
  postgres.connect(configuration.DSN, function (err, client, done) {
    if (err) return callback(err);
    const query = 'SELECT id, nickname, email, password, plan FROM users WHERE email = $1';
    client.query(query, [email], function (err, result) {
      done();
      if (err || result.rows.length === 0) {
        return callback(err || new WrongUsernameOrPasswordError(email));
      }
      const user = result.rows[0];
      bcrypt.compare(password, user.password, function (err, isValid) {
        if (err || !isValid) return callback(err || new WrongUsernameOrPasswordError(email));
        callback(null, {user_id: user.id, nickname: user.nickname, email: user.email,
          metadata: {plan: user.plan}});
      });
    });
  });
}"""


def legacy_database(server: PostgresServer, users: int, cost: int) -> str:
    dsn = server.url(server.create_database())
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "
            "nickname text, password text NOT NULL, plan text NOT NULL)"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO users (email, nickname, password, plan) VALUES (%s, %s, %s, 'gold')",
                [(f"legacy{n}@example.com", f"legacy{n}", hashed) for n in range(users)],
            )
    return dsn


def logins(base_url: str, token: str, name: str, realm: str, prefix: str, count: int) -> Figures:
    async def login(session: aiohttp.ClientSession, index: int) -> int:
        body: dict[str, Any] = {
            "grant_type": REALM_GRANT,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": f"{prefix}{index}@example.com",
            "password": PASSWORD,
            "realm": realm,
            "scope": "openid",
        }
        async with session.post("/oauth/token", json=body) as response:
            await response.read()
            return response.status

    return load(name, base_url, token, login, count, concurrency=1)


def bench(users: int, cost: int) -> None:
    legacy = PostgresServer()
    legacy.start()
    try:
        dsn = legacy_database(legacy, users, cost)
        with serve(None, CHEAP_ARGON2) as base_url:
            token = admin_token(base_url)
            management = httpx.Client(
                base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}
            )
            for n in range(users):
                management.post(
                    "/users",
                    json={
                        "connection": CONNECTION,
                        "email": f"local{n}@example.com",
                        "password": PASSWORD,
                    },
                ).raise_for_status()
            for name, import_mode in (("legacy-import", True), ("legacy-always", False)):
                management.post(
                    "/connections",
                    json={
                        "name": name,
                        "strategy": "auth0",
                        "options": {
                            "enabledDatabaseCustomization": True,
                            "import_mode": import_mode,
                            "customScripts": {"login": LOGIN},
                            "configuration": {"DSN": dsn},
                        },
                    },
                ).raise_for_status()
            logins(base_url, token, "warm-up", CONNECTION, "local", min(users, 50))
            baseline = logins(base_url, token, "local login (baseline)", CONNECTION, "local", users)
            first = logins(
                base_url, token, "first login: script + migration", "legacy-import", "legacy", users
            )
            later = logins(
                base_url, token, "later login: migrated, local", "legacy-import", "legacy", users
            )
            always = logins(
                base_url,
                token,
                "no import mode, first: local copy made",
                "legacy-always",
                "legacy",
                users,
            )
            again = logins(
                base_url,
                token,
                "no import mode, later: nothing written",
                "legacy-always",
                "legacy",
                users,
            )
            print(f"{users} users, legacy bcrypt cost {cost}, argon2id cheap (t=1, 1 MiB)")
            print(baseline.line())
            for figures in (first, later, always, again):
                print(figures.line(baseline))
            for figures in (first, always, again):
                added = figures.percentile(0.5) - baseline.percentile(0.5)
                print(f"{'  added p50, ' + figures.name:<60} {added:+.2f} ms")
    finally:
        legacy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--bcrypt-cost", type=int, default=4)
    args = parser.parse_args()
    bench(args.users, args.bcrypt_cost)


if __name__ == "__main__":
    main()
