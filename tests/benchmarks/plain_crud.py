"""The plain-CRUD baseline of bench_side_by_side: users as rows with JSON metadata columns, no
history, no encryption, a fixed bearer token. What a team would write instead of metaledger.

Run (the benchmark starts it): PLAIN_CRUD_DATABASE=<postgresql://… or a SQLite file path>
.venv/bin/python -m uvicorn tests.benchmarks.plain_crud:app --workers N --port P

On PostgreSQL: psycopg's async pool, JSONB buckets, PATCH as one
`UPDATE … SET app_metadata = (app_metadata || $1) - $nulls`, search as JSONB containment on a
GIN index. On SQLite: one connection per thread (FastAPI runs plain `def` routes in its thread
pool), JSON text buckets merged with `json_patch` (RFC 7396: a null deletes), search on an
index of `json_extract(app_metadata, '$.plan')`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.responses import Response

TOKEN = "plain-crud-fixed-token"
# The same cheap argon2id setting the benchmark gives metaledger (time cost 1, 1 MiB).
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
DATABASE = os.environ.get("PLAIN_CRUD_DATABASE", "")
BUCKETS = ("user_metadata", "app_metadata")
# The one query shape the benchmark sends: `app_metadata.<key>:"<value>"`.
SEARCH = re.compile(r'^app_metadata\.(?P<key>\w+):"(?P<value>[^"]*)"$')
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id text PRIMARY KEY,
    email text NOT NULL,
    connection text NOT NULL,
    password_hash text NOT NULL,
    user_metadata jsonb NOT NULL DEFAULT '{}',
    app_metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (connection, email);
CREATE INDEX IF NOT EXISTS users_app_metadata ON users USING gin (app_metadata jsonb_path_ops);
"""
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id text PRIMARY KEY,
    email text NOT NULL,
    connection text NOT NULL,
    password_hash text NOT NULL,
    user_metadata text NOT NULL DEFAULT '{}',
    app_metadata text NOT NULL DEFAULT '{}',
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (connection, email);
CREATE INDEX IF NOT EXISTS users_plan ON users (json_extract(app_metadata, '$.plan'));
"""
COLUMNS = "user_id, email, connection, user_metadata, app_metadata, created_at, updated_at"
INSERT = f"INSERT INTO users ({COLUMNS}, password_hash) VALUES ({', '.join(['%s'] * 8)})"


def json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


def unauthorized(request: Request) -> Response | None:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return json({"statusCode": 401, "error": "Unauthorized"}, 401)
    return None


def new_row(body: dict[str, Any]) -> tuple[Any, ...]:
    now = datetime.now(UTC)
    return (
        f"auth0|{uuid.uuid4().hex[:24]}",
        body["email"],
        body["connection"],
        body.get("user_metadata", {}),
        body.get("app_metadata", {}),
        now,
        now,
        HASHER.hash(body["password"]),
    )


def as_user(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(COLUMNS.split(", "), row, strict=True))


def search_terms(request: Request) -> tuple[str, str, int, int] | None:
    match = SEARCH.match(request.query_params.get("q", ""))
    if match is None:
        return None
    per_page = int(request.query_params.get("per_page", "50"))
    page = int(request.query_params.get("page", "0"))
    return match["key"], match["value"], per_page, page


def postgres_app(url: str) -> FastAPI:
    # Autocommit: each request is one statement, so one round trip (no BEGIN and COMMIT).
    pool = AsyncConnectionPool(
        url, min_size=4, max_size=16, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Response:
        return json({"status": "ok"})

    @app.post("/api/v2/users")
    async def create(request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        row = list(new_row(orjson.loads(await request.body())))
        row[3], row[4] = Jsonb(row[3]), Jsonb(row[4])
        async with pool.connection() as connection:
            cursor = await connection.execute(f"{INSERT} RETURNING {COLUMNS}", row)
            created = await cursor.fetchone()
        assert created is not None
        return json(as_user(created), 201)

    @app.get("/api/v2/users/{user_id}")
    async def get(user_id: str, request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        async with pool.connection() as connection:
            cursor = await connection.execute(
                f"SELECT {COLUMNS} FROM users WHERE user_id = %s", (user_id,)
            )
            row = await cursor.fetchone()
        return json(as_user(row)) if row else json({"statusCode": 404}, 404)

    @app.patch("/api/v2/users/{user_id}")
    async def patch(user_id: str, request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        body = orjson.loads(await request.body())
        assignments = ["updated_at = now()"]
        values: list[Any] = []
        for bucket in BUCKETS:
            if bucket in body:
                nulls = [key for key, value in body[bucket].items() if value is None]
                assignments.append(f"{bucket} = ({bucket} || %s) - %s::text[]")
                values += [Jsonb(body[bucket]), nulls]
        async with pool.connection() as connection:
            cursor = await connection.execute(
                f"UPDATE users SET {', '.join(assignments)} WHERE user_id = %s RETURNING {COLUMNS}",
                [*values, user_id],
            )
            row = await cursor.fetchone()
        return json(as_user(row)) if row else json({"statusCode": 404}, 404)

    @app.get("/api/v2/users")
    async def search(request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        terms = search_terms(request)
        if terms is None:
            return json({"statusCode": 400}, 400)
        key, value, per_page, page = terms
        async with pool.connection() as connection:
            cursor = await connection.execute(
                f"SELECT {COLUMNS} FROM users WHERE app_metadata @> %s"
                " ORDER BY user_id LIMIT %s OFFSET %s",
                (Jsonb({key: value}), per_page, page * per_page),
            )
            rows = await cursor.fetchall()
        return json([as_user(row) for row in rows])

    return app


def sqlite_app(path: str) -> FastAPI:
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "connection"):
            local.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            local.connection.execute("PRAGMA journal_mode=WAL")
        db: sqlite3.Connection = local.connection
        return db

    def user(row: tuple[Any, ...]) -> dict[str, Any]:
        found = as_user(row)
        for bucket in BUCKETS:
            found[bucket] = orjson.loads(found[bucket])
        return found

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> Response:
        return json({"status": "ok"})

    @app.post("/api/v2/users")
    def create(body: dict[str, Any], request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        row = list(new_row(body))
        row[3], row[4] = orjson.dumps(row[3]).decode(), orjson.dumps(row[4]).decode()
        row[5] = row[6] = row[5].isoformat()
        connection().execute(INSERT.replace("%s", "?"), row)
        return json(user(tuple(row[:-1])), 201)

    @app.get("/api/v2/users/{user_id}")
    def get(user_id: str, request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        row = (
            connection()
            .execute(f"SELECT {COLUMNS} FROM users WHERE user_id = ?", (user_id,))
            .fetchone()
        )
        return json(user(row)) if row else json({"statusCode": 404}, 404)

    @app.patch("/api/v2/users/{user_id}")
    def patch(user_id: str, body: dict[str, Any], request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        assignments = ["updated_at = ?"]
        values: list[Any] = [datetime.now(UTC).isoformat()]
        for bucket in BUCKETS:
            if bucket in body:
                assignments.append(f"{bucket} = json_patch({bucket}, ?)")
                values.append(orjson.dumps(body[bucket]).decode())
        row = (
            connection()
            .execute(
                f"UPDATE users SET {', '.join(assignments)} WHERE user_id = ? RETURNING {COLUMNS}",
                [*values, user_id],
            )
            .fetchone()
        )
        return json(user(row)) if row else json({"statusCode": 404}, 404)

    @app.get("/api/v2/users")
    def search(request: Request) -> Response:
        if refused := unauthorized(request):
            return refused
        terms = search_terms(request)
        if terms is None:
            return json({"statusCode": 400}, 400)
        key, value, per_page, page = terms
        rows = (
            connection()
            .execute(
                f"SELECT {COLUMNS} FROM users WHERE json_extract(app_metadata, '$.{key}') = ?"
                " ORDER BY user_id LIMIT ? OFFSET ?",
                (value, per_page, page * per_page),
            )
            .fetchall()
        )
        return json([user(row) for row in rows])

    return app


def create_schema(database: str) -> None:
    """The tables and indexes, made once by the benchmark before the workers start."""
    if database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute(POSTGRES_SCHEMA)
    else:
        with sqlite3.connect(database) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SQLITE_SCHEMA)


def build() -> FastAPI:
    if DATABASE.startswith("postgresql"):
        return postgres_app(DATABASE)
    return sqlite_app(DATABASE)


app = build() if DATABASE else FastAPI()
