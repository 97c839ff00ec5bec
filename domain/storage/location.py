"""Where the stores live: SQLite files in a data directory, or one PostgreSQL database.

`METALEDGER_DATABASE_URL` is parsed here and nowhere else; everything that opens a store is given
a `StoreLocation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import psycopg

POSTGRES_SCHEMES = frozenset({"postgres", "postgresql"})


@dataclass(frozen=True)
class SQLiteFiles:
    """The embedded default: a SQLite file per store under `directory`."""

    directory: Path

    def file(self, name: str) -> Path:
        """The path of the store file `name`, its directory made if need be."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / name

    def describe(self) -> str:
        return f"SQLite files in {self.directory}"


@dataclass(frozen=True)
class PostgresDatabase:
    """`postgresql://user:password@host:port/dbname?schema=…&host=/socket/dir`."""

    url: str
    dbname: str
    host: str
    port: int
    user: str
    password: str
    schema: str | None = None

    def describe(self) -> str:
        schema = f", schema {self.schema}" if self.schema else ""
        return f"PostgreSQL database {self.dbname} on {self.host}:{self.port}{schema}"

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection of its own, its search path on the schema the URL names."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password,
            options=f"-c search_path={self.schema}" if self.schema else None,
            autocommit=autocommit,
        )


StoreLocation = SQLiteFiles | PostgresDatabase


def store_location(database_url: str | None, data_dir: Path) -> StoreLocation:
    """The stores named by METALEDGER_DATABASE_URL: unset, SQLite files under `data_dir`."""
    if not database_url:
        return SQLiteFiles(data_dir)
    url = urlparse(database_url)
    if url.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported METALEDGER_DATABASE_URL scheme: {database_url!r}")
    query = parse_qs(url.query)
    return PostgresDatabase(
        url=database_url,
        dbname=unquote(url.path.lstrip("/")) or "postgres",
        host=query.get("host", [url.hostname or "127.0.0.1"])[0],
        port=url.port or 5432,
        user=unquote(url.username or "postgres"),
        password=unquote(url.password or ""),
        schema=query["schema"][0] if "schema" in query else None,
    )
