"""Changes as CSV for an auditor: values as JSON, and no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import orjson

from metaledger.projections.audit.records import ChangeRow

CSV_COLUMNS = (
    "date",
    "user_id",
    "key",
    "old",
    "new",
    "event",
    "version",
    "actor_kind",
    "actor_id",
    "client_id",
    "request_id",
    "ip",
    "position",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_json(value: Any) -> str:
    """A value as JSON text; "" for none."""
    return "" if value is None else orjson.dumps(value).decode()


def cells(change: ChangeRow) -> list[Any]:
    values = {
        **change.as_dict(),
        "old": as_json(change.old),
        "new": as_json(change.new),
        "actor_kind": change.actor_kind,
        "actor_id": change.actor_id,
    }
    return [values[column] for column in CSV_COLUMNS]


def csv_line(row: Iterable[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_inert(cell) for cell in row])
    return out.getvalue()


def _inert(cell: Any) -> Any:
    """A cell a spreadsheet shows as text, not runs as a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return "" if cell is None else cell
