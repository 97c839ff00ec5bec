"""The unique email index, written in the same transaction as the events.

A user's email is claimed per connection. The claim is a row under a primary key of
(connection, email) in the event store's own database, inserted by the recorder in the
transaction that appends the events, so two concurrent creates with one email cannot both
commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from metaledger.domain.ports import EmailClaim
from metaledger.domain.storage.dialect import Dialect

EMAIL_INDEX_TABLE = "user_emails"


def is_email_conflict(error: BaseException) -> bool:
    return EMAIL_INDEX_TABLE in str(error)


class EmailIndexStatements:
    """SQL for the index, in the backend's dialect."""

    def __init__(self, dialect: Dialect, table: str, schema: str | None = None) -> None:
        p = dialect.placeholder
        index = f"{table}_by_email"
        table = dialect.table(table, schema)
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "connection TEXT NOT NULL, email TEXT NOT NULL, user_id TEXT NOT NULL, "
            "PRIMARY KEY (connection, email))",
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} (email)",
        ]
        self.claim = f"INSERT INTO {table} (connection, email, user_id) VALUES ({p}, {p}, {p})"
        self.release = (
            f"DELETE FROM {table} WHERE connection = {p} AND email = {p} AND user_id = {p}"
        )
        self.select_by_email = f"SELECT user_id FROM {table} WHERE email = {p} ORDER BY user_id"


def write_claims(
    executemany: Callable[[str, Sequence[Sequence[Any]]], object],
    statements: EmailIndexStatements,
    claims: Iterable[EmailClaim],
) -> None:
    """Applies releases before claims, so a user can move between two emails in one append;
    each kind in one statement, however many users the append holds (a bulk import)."""
    rows: dict[bool, list[tuple[str, str, str]]] = {False: [], True: []}
    for claim in claims:
        rows[claim.claimed].append((claim.connection, claim.email, claim.user_id))
    for claimed, statement in ((False, statements.release), (True, statements.claim)):
        if rows[claimed]:
            executemany(statement, rows[claimed])
