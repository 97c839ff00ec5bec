"""What differs between SQLite and PostgreSQL in the tables kept beside the events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson


@dataclass(frozen=True)
class Dialect:
    placeholder: str
    id_type: str  # how aggregate ids are kept: as the library keeps them in its events table
    blob_type: str
    position: str  # the events table's notification id column
    id_param: Callable[[UUID], Any]
    list_param: Callable[[Sequence[Any]], Any]  # many values as one parameter
    any_of: str  # a condition on one parameter holding many values, `{}` = the column

    def table(self, name: str, schema: str | None = None) -> str:
        return f"{schema}.{name}" if schema else name


SQLITE = Dialect(
    placeholder="?",
    id_type="TEXT",
    blob_type="BLOB",
    position="rowid",
    id_param=lambda id_: id_.hex,
    list_param=lambda values: orjson.dumps(list(values)).decode(),
    any_of="{} IN (SELECT value FROM json_each(?))",
)

POSTGRES = Dialect(
    placeholder="%s",
    id_type="uuid",
    blob_type="bytea",
    position="notification_id",
    id_param=lambda id_: id_,
    list_param=list,
    any_of="{} = ANY(%s)",
)


def as_uuid(value: UUID | str) -> UUID:
    """An aggregate id read back from either backend."""
    return value if isinstance(value, UUID) else UUID(value)
