"""What browser logins keep between requests: sessions, authorization codes, login tickets and
refresh tokens.

One table in the event store's database, so every HTTP worker process redeems what another
issued. A row is keyed by a SHA-256 digest of its secret (the table never holds a usable
token), expires, and is taken at most once: a take is one UPDATE that only the first caller's
claim wins. Taken rows stay until they expire, so a second use of a refresh token is seen and
revokes its whole family.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from metaledger.api.auth.failure_store import SqlTables

BROWSER_GRANTS_TABLE = "browser_grants"
SESSION = "session"
CODE = "code"
LOGIN_TICKET = "login_ticket"
REFRESH_TOKEN = "refresh_token"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class BrowserGrants:
    def __init__(self, tables: SqlTables, clock: Callable[[], float] = time.time) -> None:
        self._tables = tables
        self._clock = clock
        dialect = tables.dialect
        text, real, p = dialect.text_type, dialect.real_type, dialect.placeholder
        table = tables.table(BROWSER_GRANTS_TABLE)
        tables.write(
            f"CREATE TABLE IF NOT EXISTS {table} (kind {text} NOT NULL, key {text} NOT NULL, "
            f"family {text}, document {text} NOT NULL, expires_at {real} NOT NULL, "
            f"taken_by {text}, PRIMARY KEY (kind, key))"
        )
        tables.write(
            f"CREATE INDEX IF NOT EXISTS {table.rsplit('.', 1)[-1]}_families ON {table} (family)"
        )
        self._insert = (
            f"INSERT INTO {table} (kind, key, family, document, expires_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
        live = f"kind = {p} AND key = {p} AND expires_at > {p}"
        self._select = f"SELECT document FROM {table} WHERE {live} AND taken_by IS NULL"
        self._claim = f"UPDATE {table} SET taken_by = {p} WHERE {live} AND taken_by IS NULL"
        self._claimed = (
            f"SELECT document FROM {table} WHERE kind = {p} AND key = {p} AND taken_by = {p}"
        )
        self._taken_family = f"SELECT family FROM {table} WHERE {live} AND taken_by IS NOT NULL"
        self._delete = f"DELETE FROM {table} WHERE kind = {p} AND key = {p}"
        self._delete_family = f"DELETE FROM {table} WHERE family = {p}"
        self._sweep = f"DELETE FROM {table} WHERE expires_at <= {p}"
        self._last_sweep = clock()

    def issue(
        self, kind: str, document: dict[str, Any], seconds: int, family: str | None = None
    ) -> str:
        """A new secret for `document`, valid `seconds`."""
        now = self._clock()
        if now - self._last_sweep >= 60:  # expired rows go in bulk, now and then
            self._last_sweep = now
            self._tables.write(self._sweep, (now,))
        secret = secrets.token_urlsafe(32)
        self._tables.write(
            self._insert,
            (kind, _digest(secret), family, orjson.dumps(document).decode(), now + seconds),
        )
        return secret

    def peek(self, kind: str, secret: str) -> dict[str, Any] | None:
        """The document of a live, untaken secret (a session is read many times)."""
        rows = self._tables.rows(self._select, (kind, _digest(secret), self._clock()))
        return _document(rows)

    def take(self, kind: str, secret: str) -> dict[str, Any] | None:
        """The document of a live secret, which no one can take again; None when it is
        unknown, expired or already taken."""
        claim = secrets.token_hex(16)
        key = _digest(secret)
        self._tables.write(self._claim, (claim, kind, key, self._clock()))
        return _document(self._tables.rows(self._claimed, (kind, key, claim)))

    def taken_family(self, kind: str, secret: str) -> str | None:
        """The family of a secret that was already taken (a replay), if it has one."""
        rows = self._tables.rows(self._taken_family, (kind, _digest(secret), self._clock()))
        return str(rows[0]["family"]) if rows and rows[0]["family"] else None

    def revoke(self, kind: str, secret: str) -> None:
        self._tables.write(self._delete, (kind, _digest(secret)))

    def revoke_family(self, family: str) -> None:
        self._tables.write(self._delete_family, (family,))


def _document(rows: list[Any]) -> dict[str, Any] | None:
    if not rows:
        return None
    document: dict[str, Any] = orjson.loads(rows[0]["document"])
    return document
