"""What differs between SQLite and PostgreSQL, for every table metaledger keeps: the one
description of the SQL dialect that the event store's side tables, the read model and the
consumers' inboxes are written in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson


def glob_pattern(parts: tuple[str, ...]) -> str:
    """SQLite GLOB (case-sensitive): `*` between the parts, their own `*?[` made literal."""
    return "*".join("".join(f"[{c}]" if c in "*?[" else c for c in part) for part in parts)


def like_pattern(parts: tuple[str, ...]) -> str:
    """PostgreSQL LIKE (case-sensitive): `%` between the parts, their own `\\%_` escaped."""
    return "%".join("".join(f"\\{c}" if c in "\\%_" else c for c in part) for part in parts)


@dataclass(frozen=True)
class Dialect:
    placeholder: str
    # Types. Aggregate ids are kept as the library keeps them in its events table; other
    # UUID columns as the backend stores them best.
    aggregate_id_type: str
    uuid_type: str
    text_type: str
    integer_type: str
    boolean_type: str
    real_type: str
    blob_type: str
    # SQLite keys a table by its rowid: an index holds it, and needs no key column.
    rowid_key: bool
    # How an index on a nullable column puts NULL first (SQLite does without being told).
    nulls_first: str
    position: str  # the events table's notification id column
    id_param: Callable[[UUID], Any]
    list_param: Callable[[Sequence[Any]], Any]  # many values as one parameter
    any_of: str  # a condition on one parameter holding many values, `{}` = the column
    # Case-sensitive wildcard matching: the operator, and a pattern from the literal parts.
    pattern_operator: str
    pattern: Callable[[tuple[str, ...]], str]
    # SQLite merges key sets read in key order as streams (INTERSECT, UNION); PostgreSQL
    # hashes those, but merges joins of them.
    merges_key_sets: bool

    def table(self, name: str, schema: str | None = None) -> str:
        return f"{schema}.{name}" if schema else name


SQLITE = Dialect(
    placeholder="?",
    aggregate_id_type="TEXT",
    uuid_type="BLOB",
    text_type="TEXT",
    integer_type="INTEGER",
    boolean_type="INTEGER",
    real_type="REAL",
    blob_type="BLOB",
    rowid_key=True,
    nulls_first="",
    position="rowid",
    id_param=lambda id_: id_.hex,
    list_param=lambda values: orjson.dumps(list(values)).decode(),
    any_of="{} IN (SELECT value FROM json_each(?))",
    pattern_operator="GLOB",
    pattern=glob_pattern,
    merges_key_sets=True,
)

POSTGRES = Dialect(
    placeholder="%s",
    aggregate_id_type="uuid",
    uuid_type="uuid",
    # The "C" collation compares and orders by code point, as SQLite does, so a prefix
    # wildcard is an index range and both backends sort alike.
    text_type='text COLLATE "C"',
    integer_type="bigint",
    boolean_type="boolean",
    real_type="double precision",
    blob_type="bytea",
    rowid_key=False,
    nulls_first=" NULLS FIRST",
    position="notification_id",
    id_param=lambda id_: id_,
    list_param=list,
    any_of="{} = ANY(%s)",
    pattern_operator="LIKE",
    pattern=like_pattern,
    merges_key_sets=False,
)
