"""What an erasure leaves in a database's files, cleared once its transaction committed.

A deleted row outlives its transaction: on SQLite in the write-ahead log (until a checkpoint
copies the pages back and the log is truncated), on PostgreSQL as a dead row version (until
VACUUM removes it). Every store that holds personal data in plain text calls these after a
transaction that erased someone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg

log = logging.getLogger("metaledger.storage")

# Zeroes what a write frees (cells, pages) instead of leaving it in the file. SQLite's own
# default is off; Debian's build turns it on, other builds (macOS, python.org) do not.
SECURE_DELETE = "PRAGMA secure_delete = ON"


class Cursor(Protocol):
    def execute(self, sql: str, /) -> Any: ...

    def fetchone(self) -> Any: ...


def truncate_wal(cursor: Cursor, store: str) -> None:
    """Copies the WAL into the database file and empties it, so the pages the erasure rewrote
    survive in neither file. Readers still on older pages prevent it: the WAL is then reused
    from its start and overwritten later."""
    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if cursor.fetchone()[0]:
        log.warning("erasure: the %s WAL could not be truncated yet (readers active)", store)


def vacuum(connection: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Removes the tables' dead row versions and their index entries (on a connection in
    autocommit mode: VACUUM runs outside a transaction). Index cleanup is forced: by default
    PostgreSQL skips the indexes when few pages have dead rows, and the entries stay."""
    try:
        connection.execute(f"VACUUM (INDEX_CLEANUP ON) {', '.join(tables)}")
    except psycopg.Error as error:  # the erasure itself is committed: say so, do not fail it
        log.warning("erasure: VACUUM of %s failed: %r", ", ".join(tables), error)
