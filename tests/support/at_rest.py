"""What a store keeps at rest, byte for byte, for erasure tests: every file under the data
directory and, on PostgreSQL, a dump and every row version still in the database's pages."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

import psycopg

from metaledger.api.settings import Settings
from tests.support.postgres import pg_bin


def found(stored: dict[str, bytes], personal: Sequence[bytes]) -> dict[str, list[bytes]]:
    """The personal values in each place that holds any."""
    places = {
        place: [value for value in personal if value in data] for place, data in stored.items()
    }
    return {place: values for place, values in places.items() if values}


def everything_stored(settings: Settings) -> dict[str, bytes]:
    """By place: every file under the data directory; on PostgreSQL also a dump of the
    database and the row versions of each table and index, dead ones included."""
    stored = {
        path.name: path.read_bytes() for path in settings.data_dir.rglob("*") if path.is_file()
    }
    if settings.database_url is not None:
        stored["pg_dump"] = dumped(settings.database_url)
        stored.update(row_versions(settings.database_url))
    return stored


def dumped(url: str) -> bytes:
    return subprocess.run(
        [pg_bin("pg_dump"), "--no-owner", url], check=True, capture_output=True
    ).stdout


def row_versions(url: str) -> dict[str, bytes]:
    """The data of every tuple on every page of every table and btree index, by relation,
    read with pageinspect: what VACUUM has not removed yet is there, whatever a query sees."""
    stored: dict[str, bytes] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        relations = connection.execute(
            "SELECT c.oid::regclass::text, c.relkind = 'i', "
            "pg_relation_size(c.oid) / current_setting('block_size')::int FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND c.relpersistence = 'p' "
            "AND (c.relkind IN ('r', 't') OR (c.relkind = 'i' AND am.amname = 'btree'))"
        ).fetchall()
        for name, index, pages in relations:
            first = 1 if index else 0  # a btree's page 0 is its metapage
            stored[name] = b"\n".join(
                data
                for page in range(first, pages)
                for data in _tuples_on(connection, name, index, page)
            )
    return stored


def _tuples_on(
    connection: psycopg.Connection[tuple[Any, ...]], name: str, index: bool, page: int
) -> list[bytes]:
    if index:
        rows = connection.execute(
            "SELECT decode(replace(data, ' ', ''), 'hex') FROM bt_page_items(%s, %s)",
            (name, page),
        ).fetchall()
    else:
        rows = connection.execute(
            "SELECT t_data FROM heap_page_items(get_raw_page(%s, %s))", (name, page)
        ).fetchall()
    return [bytes(row[0]) for row in rows if row[0] is not None]
