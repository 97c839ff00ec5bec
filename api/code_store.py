"""The tenant's code and its settings: rules, rules configuration, actions, trigger bindings and
the database connections and the applications created through the API.

One table in the event store's database (so every process serving logins reads the same code),
holding JSON documents by kind and id, with a name unique per kind and a position to order by.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import IntegrityError, PersistenceError

from metaledger.api.auth.failure_store import SqlTables

TENANT_CODE_TABLE = "tenant_code"
RULE = "rule"
RULES_CONFIG = "rules_config"
ACTION = "action"
BINDINGS = "bindings"
CONNECTION = "connection"
CLIENT = "client"


class NameTaken(Exception):
    """Another document of the same kind already has this name."""


class TenantCode:
    def __init__(self, tables: SqlTables) -> None:
        self._tables = tables
        dialect = tables.dialect
        p = dialect.placeholder
        table = tables.table(TENANT_CODE_TABLE)
        tables.write(
            f"CREATE TABLE IF NOT EXISTS {table} (kind {dialect.text_type} NOT NULL, "
            f"id {dialect.text_type} NOT NULL, name {dialect.text_type} NOT NULL, "
            f"position {dialect.real_type} NOT NULL, document {dialect.text_type} NOT NULL, "
            "PRIMARY KEY (kind, id))"
        )
        tables.write(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table.rsplit('.', 1)[-1]}_names "
            f"ON {table} (kind, name)"
        )
        self._insert = (
            f"INSERT INTO {table} (kind, id, name, position, document) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        self._upsert = (
            f"{self._insert} ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name, "
            "position = excluded.position, document = excluded.document"
        )
        self._select_one = f"SELECT document FROM {table} WHERE kind = {p} AND id = {p}"
        self._select_position = f"SELECT position FROM {table} WHERE kind = {p} AND id = {p}"
        self._select_by_name = f"SELECT document FROM {table} WHERE kind = {p} AND name = {p}"
        self._select_all = (
            f"SELECT document FROM {table} WHERE kind = {p} ORDER BY position, name, id"
        )
        self._delete = f"DELETE FROM {table} WHERE kind = {p} AND id = {p}"

    def add(self, kind: str, id_: str, name: str, position: float, document: Any) -> None:
        """Raises NameTaken when the name is another document's."""
        self._write(self._insert, (kind, id_, name, position, _text(document)))

    def put(self, kind: str, id_: str, name: str, position: float, document: Any) -> None:
        """Creates or replaces the document `id_`; raises NameTaken as `add`."""
        self._write(self._upsert, (kind, id_, name, position, _text(document)))

    def get(self, kind: str, id_: str) -> Any:
        """The document, or None."""
        rows = self._tables.rows(self._select_one, (kind, id_))
        return orjson.loads(rows[0]["document"]) if rows else None

    def position(self, kind: str, id_: str) -> float | None:
        """Where the document `id_` stands in `all`, or None."""
        rows = self._tables.rows(self._select_position, (kind, id_))
        return float(rows[0]["position"]) if rows else None

    def by_name(self, kind: str, name: str) -> Any:
        """The document of `kind` named `name`, or None."""
        rows = self._tables.rows(self._select_by_name, (kind, name))
        return orjson.loads(rows[0]["document"]) if rows else None

    def all(self, kind: str) -> list[Any]:
        """Every document of `kind`, by position then name."""
        rows = self._tables.rows(self._select_all, (kind,))
        return [orjson.loads(row["document"]) for row in rows]

    def remove(self, kind: str, id_: str) -> None:
        self._tables.write(self._delete, (kind, id_))

    def _write(self, statement: str, params: tuple[Any, ...]) -> None:
        try:
            self._tables.write(statement, params)
        except IntegrityError:
            raise NameTaken(params[2]) from None
        except PersistenceError as error:
            # psycopg's unique violation arrives as the library's generic error on some paths.
            if "unique" in str(error).lower():
                raise NameTaken(params[2]) from None
            raise


def _text(document: Any) -> str:
    return orjson.dumps(document).decode()
