"""The timestamp → version index, written in the same transaction as the events.

Event times live inside the event payloads, so "which version of this user was current at
time T" would otherwise mean decoding the user's whole stream. One row per event answers it
with one index lookup; the profile itself is then read with the library's versioned
`repository.get`. Times are microseconds since the epoch (UTC) as the writer's clock saw them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from metaledger.domain.storage.dialect import Dialect

EVENT_TIMES_TABLE = "user_event_times"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds(moment: datetime) -> int:
    """Microseconds since the epoch; a naive `moment` is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class EventTimeStatements:
    def __init__(self, dialect: Dialect, table: str, schema: str | None = None) -> None:
        self.dialect = dialect
        index = f"{table}_by_time"
        table = dialect.table(table, schema)
        p = dialect.placeholder
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {table} "
            f"(aggregate_id {dialect.aggregate_id_type} NOT NULL, "
            "version BIGINT NOT NULL, recorded_us BIGINT NOT NULL, "
            "PRIMARY KEY (aggregate_id, version))",
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} (aggregate_id, recorded_us)",
        ]
        self.insert = (
            f"INSERT INTO {table} (aggregate_id, version, recorded_us) VALUES ({p}, {p}, {p})"
        )
        self.version_at = (
            f"SELECT version FROM {table} WHERE aggregate_id = {p} AND recorded_us <= {p} "
            "ORDER BY recorded_us DESC, version DESC LIMIT 1"
        )


def write_times(
    executemany: Callable[[str, Sequence[Sequence[Any]]], object],
    statements: EventTimeStatements,
    times: Iterable[tuple[UUID, int, datetime]],
) -> None:
    id_param = statements.dialect.id_param
    rows = [(id_param(id_), version, microseconds(moment)) for id_, version, moment in times]
    if rows:
        executemany(statements.insert, rows)
