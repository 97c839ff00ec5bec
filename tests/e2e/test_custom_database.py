"""Custom-database connections against a real legacy PostgreSQL store (a `users` table with
bcrypt hashes) reached by a `login` script written as Auth0's PostgreSQL template is: managed
with the official SDK, lazy migration of a few hundred users each moved once, logins kept in
step without import mode, signups checked against the legacy store, and failing, malformed and
hostile scripts refused in Auth0's shape while other logins go on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import bcrypt
import httpx
import psycopg
import pytest
from auth0.management import Auth0

from metaledger.api.auth.applications import parse_applications
from metaledger.api.settings import Settings
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer

WEB_APP = "web-app"
LEGACY = "legacy-db"
LEGACY_USERS = 300
PASSWORD = "Legacy-password-7"
REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"

# Auth0's PostgreSQL login template, with the connection string from the configuration and a
# count of the legacy logins it serves (so the test sees when it is no longer called).
LOGIN = """function login(email, password, callback) {
  const bcrypt = require('bcrypt');
  const postgres = require('pg');

  postgres.connect(configuration.DSN, function (err, client, done) {
    if (err) return callback(err);

    const query = 'SELECT id, nickname, email, password, plan, theme FROM users WHERE email = $1';
    client.query(query, [email], function (err, result) {
      done();
      if (err || result.rows.length === 0) {
        return callback(err || new WrongUsernameOrPasswordError(email));
      }
      const user = result.rows[0];
      bcrypt.compare(password, user.password, function (err, isValid) {
        if (err || !isValid) return callback(err || new WrongUsernameOrPasswordError(email));
        client.query('UPDATE users SET legacy_logins = legacy_logins + 1 WHERE id = $1', [user.id])
          .then(function () {
            callback(null, {
              user_id: String(user.id),
              nickname: user.nickname,
              email: user.email,
              user_metadata: {theme: user.theme},
              metadata: {plan: user.plan},
            });
          }, callback);
      });
    });
  });
}"""
GET_USER = """function getByEmail(email, callback) {
  const { Client } = require('pg');
  const client = new Client(configuration.DSN);
  client.connect();
  client.query('SELECT id, email FROM users WHERE email = $1', [email])
    .then(function (result) {
      client.end();
      if (result.rows.length === 0) return callback(null);
      callback(null, {user_id: String(result.rows[0].id), email: result.rows[0].email});
    })
    .catch(callback);
}"""


def legacy_email(number: int) -> str:
    return f"legacy{number}@example.com"


@pytest.fixture(scope="module")
def legacy_hash() -> str:
    # One hash for every row: bcrypt at cost 4 is still a real bcrypt verification per login.
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def legacy_dsn(postgres_server: PostgresServer, legacy_hash: str) -> Iterator[str]:
    """A legacy database of its own: `users` with bcrypt hashes, as Auth0's template reads."""
    name = postgres_server.create_database()
    dsn = postgres_server.url(name)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "
            "nickname text, password text NOT NULL, plan text NOT NULL, theme text NOT NULL, "
            "legacy_logins integer NOT NULL DEFAULT 0)"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO users (email, nickname, password, plan, theme) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        legacy_email(n),
                        f"legacy{n}",
                        legacy_hash,
                        "gold" if n % 2 else "free",
                        "dark",
                    )
                    for n in range(LEGACY_USERS)
                ],
            )
    yield dsn
    postgres_server.drop_database(name)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(
        applications=parse_applications(
            f'[{{"client_id": "{WEB_APP}", "name": "web", "grant_types": ["{REALM_GRANT}"]}}]',
            settings.connections,
        ),
        # Hostile scripts are stopped after this long; an honest login takes milliseconds.
        sandbox_deadline_seconds=2.0,
        sandbox_workers=2,
    )


@pytest.fixture
def sdk(server: RunningServer, token: str) -> Auth0:
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)


def create_connection(
    http: httpx.Client, dsn: str, *, import_mode: bool = True, name: str = LEGACY, **scripts: str
) -> dict[str, Any]:
    response = http.post(
        "/api/v2/connections",
        json={
            "name": name,
            "strategy": "auth0",
            "enabled_clients": [WEB_APP],
            "options": {
                "enabledDatabaseCustomization": True,
                "import_mode": import_mode,
                "customScripts": {"login": LOGIN, "get_user": GET_USER, **scripts},
                "configuration": {"DSN": dsn},
            },
        },
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def login(
    base_url: str, email: str, password: str = PASSWORD, realm: str = LEGACY
) -> httpx.Response:
    return httpx.post(
        f"{base_url}/oauth/token",
        data={
            "grant_type": REALM_GRANT,
            "client_id": WEB_APP,
            "username": email,
            "password": password,
            "realm": realm,
            "scope": "openid",
        },
        timeout=30,
    )


def legacy_logins(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("SELECT legacy_logins FROM users ORDER BY id").fetchall()
    return [row[0] for row in rows]


def user_of(http: httpx.Client, email: str) -> dict[str, Any]:
    users: list[dict[str, Any]] = http.get("/api/v2/users-by-email", params={"email": email}).json()
    assert len(users) == 1, users
    return users[0]


def test_the_sdk_creates_gets_updates_and_lists_a_custom_database(
    sdk: Auth0, legacy_dsn: str
) -> None:
    created = sdk.connections.create(
        name=LEGACY,
        strategy="auth0",
        enabled_clients=[WEB_APP],
        options={
            "enabledDatabaseCustomization": True,
            "import_mode": True,
            "customScripts": {"login": LOGIN, "get_user": GET_USER},
            "configuration": {"DSN": legacy_dsn},
        },
    )
    assert created.id is not None
    assert created.id.startswith("con_")
    fetched = sdk.connections.get(created.id)
    options = fetched.options or {}
    assert options["customScripts"]["login"] == LOGIN
    # The secret is never answered in clear.
    assert options["configuration"]["DSN"] != legacy_dsn
    assert options["configuration"]["DSN"].startswith("2.0$")
    sdk.connections.update(created.id, display_name="Legacy users")
    assert sdk.connections.get(created.id).display_name == "Legacy users"
    names = [connection.name for connection in sdk.connections.list()]
    assert names == sorted([LEGACY, "Username-Password-Authentication"])


def test_a_configuration_value_sent_back_sealed_keeps_its_secret(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    created = create_connection(http, legacy_dsn)
    options = created["options"]
    patched = http.patch(f"/api/v2/connections/{created['id']}", json={"options": options})
    assert patched.status_code == 200, patched.text
    assert login(server.base_url, legacy_email(1)).status_code == 200


def test_lazy_migration_moves_each_legacy_user_once(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    for _ in range(2):
        for number in range(LEGACY_USERS):
            response = login(server.base_url, legacy_email(number))
            assert response.status_code == 200, response.text
    # Every second login was local: the script ran once per user.
    assert legacy_logins(legacy_dsn) == [1] * LEGACY_USERS
    user = user_of(http, legacy_email(7))
    assert (user["app_metadata"], user["user_metadata"]) == ({"plan": "gold"}, {"theme": "dark"})
    events = http.get(f"/api/v2/users/{user['user_id']}/history").json()
    created = [event["actor"] for event in events if event["event"] == "UserCreated"]
    assert [(actor["kind"], actor["id"]) for actor in created] == [("migration", LEGACY)]


def test_a_migrated_user_logs_in_with_the_password_the_script_accepted(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    assert login(server.base_url, legacy_email(3)).status_code == 200
    with psycopg.connect(legacy_dsn, autocommit=True) as connection:
        connection.execute("UPDATE users SET password = 'gone'")
    # The legacy row no longer matters: the argon2id hash made at migration does.
    assert login(server.base_url, legacy_email(3)).status_code == 200
    assert login(server.base_url, legacy_email(3), "wrong").status_code == 403


def test_a_wrong_password_is_refused_and_nothing_is_migrated(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    response = login(server.base_url, legacy_email(5), "not-it")
    assert (response.status_code, response.json()["error"]) == (403, "invalid_grant")
    assert http.get("/api/v2/users-by-email", params={"email": legacy_email(5)}).json() == []


def test_without_import_mode_each_login_asks_the_script_and_keeps_the_profile_in_step(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn, import_mode=False)
    assert login(server.base_url, legacy_email(2)).status_code == 200
    with psycopg.connect(legacy_dsn, autocommit=True) as connection:
        connection.execute(
            "UPDATE users SET plan = 'platinum' WHERE email = %s", (legacy_email(2),)
        )
    assert login(server.base_url, legacy_email(2)).status_code == 200
    assert login(server.base_url, legacy_email(2)).status_code == 200
    assert legacy_logins(legacy_dsn)[2] == 3
    user = user_of(http, legacy_email(2))
    assert user["app_metadata"] == {"plan": "platinum"}
    events = http.get(f"/api/v2/users/{user['user_id']}/history").json()
    patches = [e for e in events if e["event"] == "AppMetadataPatched"]
    # One change in the legacy store, one event: the unchanged third login wrote none.
    assert [(e["actor"]["kind"], e["actor"]["id"]) for e in patches] == [
        ("custom-database", LEGACY)
    ]


def test_a_signup_of_an_email_the_legacy_store_has_is_refused_as_existing(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    body = {"client_id": WEB_APP, "connection": LEGACY, "password": "Brand-new-pass-1"}
    taken = httpx.post(
        f"{server.base_url}/dbconnections/signup", json={**body, "email": legacy_email(9)}
    )
    assert (taken.status_code, taken.json()["code"]) == (400, "invalid_signup")
    fresh = httpx.post(
        f"{server.base_url}/dbconnections/signup", json={**body, "email": "new@example.com"}
    )
    assert fresh.status_code == 200, fresh.text


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "function login(email, password, callback) { callback(new Error('db is down')); }",
            "db is down",
        ),
        (
            "function login(email, password, callback) { callback(null, {nickname: 'x'}); }",
            "the profile the script returned has no email",
        ),
        (
            "function login(email, password, callback) {\n"
            "  callback(null, {email: email, metadata: {plan: 'a'}, app_metadata: {plan: 'b'}});\n"
            "}",
            "different contents",
        ),
        (
            "function login(email, password, callback) { while (true) {} }",
            "Request to Webtask exceeded allowed execution time",
        ),
    ],
    ids=["script-error", "no-email", "both-metadata-names", "endless-loop"],
)
def test_a_failing_script_fails_the_login_in_auth0s_shape_and_writes_nothing(
    http: httpx.Client, server: RunningServer, legacy_dsn: str, script: str, message: str
) -> None:
    create_connection(http, legacy_dsn, login=script)
    response = login(server.base_url, legacy_email(4))
    body = response.json()
    assert (response.status_code, body["error"]) == (403, "access_denied")
    assert message in body["error_description"]
    assert http.get("/api/v2/users-by-email", params={"email": legacy_email(4)}).json() == []


def test_other_logins_go_on_while_a_hostile_script_runs(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    create_connection(
        http,
        legacy_dsn,
        name="hostile-db",
        login="function login(email, password, callback) { while (true) {} }",
    )
    hostile: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: hostile.append(login(server.base_url, legacy_email(0), realm="hostile-db"))
    )
    thread.start()
    honest = [login(server.base_url, legacy_email(n)) for n in range(1, 6)]
    thread.join()
    assert [response.status_code for response in honest] == [200] * 5
    assert hostile[0].status_code == 403


CREATE = """function create(user, callback) {
  const bcrypt = require('bcrypt');
  const { Client } = require('pg');
  const client = new Client(configuration.DSN);
  client.connect();
  bcrypt.hash(user.password, 4).then(function (hash) {
    // What the script receives carries app_metadata under both of its names.
    const plan = JSON.stringify([user.metadata, user.app_metadata]);
    return client.query(
      'INSERT INTO users (email, nickname, password, plan, theme) VALUES ($1, $2, $3, $4, $5)',
      [user.email, user.email, hash, plan, user.user_metadata.theme || 'light']);
  }).then(function () {
    client.end();
    callback(null);
  }, callback);
}"""


def test_without_import_mode_a_signup_runs_the_create_script_into_the_legacy_store(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn, import_mode=False, create=CREATE)
    signed_up = httpx.post(
        f"{server.base_url}/dbconnections/signup",
        json={
            "client_id": WEB_APP,
            "connection": LEGACY,
            "email": "fresh@example.com",
            "password": "Brand-new-pass-1",
            "user_metadata": {"theme": "solar"},
        },
    )
    assert signed_up.status_code == 200, signed_up.text
    with psycopg.connect(legacy_dsn) as connection:
        row = connection.execute(
            "SELECT password, plan, theme FROM users WHERE email = 'fresh@example.com'"
        ).fetchone()
    assert row is not None
    password_hash, plan, theme = row
    assert bcrypt.checkpw(b"Brand-new-pass-1", password_hash.encode())
    assert (plan, theme) == ("[{},{}]", "solar")
    # The legacy store now logs the user in through the same login script.
    assert login(server.base_url, "fresh@example.com", "Brand-new-pass-1").status_code == 200


def test_a_synchronous_bcrypt_call_fails_the_login_with_a_clear_message(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    script = (
        "function login(email, password, callback) {\n"
        "  require('bcrypt').compareSync(password, 'x');\n"
        "}"
    )
    create_connection(http, legacy_dsn, login=script)
    response = login(server.base_url, legacy_email(1))
    assert response.status_code == 403
    assert "use bcrypt.compare" in response.json()["error_description"]


def test_a_script_cannot_reach_a_database_its_configuration_does_not_name(
    http: httpx.Client, server: RunningServer, legacy_dsn: str, postgres_server: PostgresServer
) -> None:
    script = (
        "function login(email, password, callback) {\n"
        "  const { Client } = require('pg');\n"
        f"  new Client('{postgres_server.url()}').query('SELECT 1', [], callback);\n"
        "}"
    )
    create_connection(http, legacy_dsn, login=script)
    response = login(server.base_url, legacy_email(1))
    assert response.status_code == 403
    assert (
        "not one of the connection's configuration values" in (response.json()["error_description"])
    )


def test_two_first_logins_at_once_migrate_one_user(
    http: httpx.Client, server: RunningServer, legacy_dsn: str
) -> None:
    create_connection(http, legacy_dsn)
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(login(server.base_url, legacy_email(8)).status_code)
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200]
    assert user_of(http, legacy_email(8))["app_metadata"] == {"plan": "free"}
