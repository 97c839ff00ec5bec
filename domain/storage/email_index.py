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
    execute: Callable[[str, Sequence[Any]], object],
    statements: EmailIndexStatements,
    claims: Iterable[EmailClaim],
) -> None:
    """Applies releases before claims, so a user can move between two emails in one append."""
    ordered = sorted(claims, key=lambda claim: claim.claimed)
    for claim in ordered:
        params = (claim.connection, claim.email, claim.user_id)
        execute(statements.claim if claim.claimed else statements.release, params)
