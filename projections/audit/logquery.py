"""Auth0 log search (`GET /api/v2/logs?q=…`): the Lucene syntax of user search, over log fields.

Parsed by luqum with user search's parser, bounds and terms (`projections.search`): `field:value`
and `"phrases"` match the whole value, case-sensitively; `*` wildcards; `[a TO b]` ranges;
AND / OR / NOT and Lucene's juxtaposed clauses; `_exists_:field`. `date` takes partial dates
(`date:2026-10` is all of October); `details.a.b` looks into the record's details. A term
without a field looks in the description, the user name and the user id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from metaledger.domain.storage import Dialect
from metaledger.projections.audit.records import LOG_FIELDS
from metaledger.projections.search.conditions import (
    EVERYONE,
    Node,
    Row,
    Sql,
    Tables,
    any_of,
    predicate,
)
from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.leaves import Bounds, Leaves
from metaledger.projections.search.query import QueryTranslator
from metaledger.projections.search.terms import Term

FIELDS = LOG_FIELDS
BARE_TERM_FIELDS = ("description", "user_name", "user_id")
DETAILS = "details"
EXISTS = "_exists_"
_DETAIL_KEY = re.compile(r"[A-Za-z0-9_\-$@]+")
MAX_DETAIL_DEPTH = 8
# Conditions name the columns alone: this table is never joined.
_TABLES = Tables("audit_log_records", "", "")


@dataclass(frozen=True)
class Predicate:
    """A condition on a log record row, and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


EVERY_RECORD = Predicate("1 = 1")


class LogQueryTranslator(QueryTranslator):
    """User search's translator (parsing, bounds, boolean logic) with leaves on log fields."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect, _TABLES)
        self.leaves = LogLeaves(dialect)

    def predicate(self, q: str | None) -> Predicate:
        condition = predicate(self.translate(q), _TABLES)
        return Predicate(condition.text, condition.params)


class LogLeaves(Leaves):
    """Each term or range of a log query as a condition on the record's own columns."""

    def match(self, field: str | None, term: Term) -> Node:
        if field is None:
            if term.is_any:
                return EVERYONE
            return any_of([Row(self.text_condition(name, term)) for name in BARE_TERM_FIELDS])
        if field == EXISTS:
            if term.has_wildcards:
                raise InvalidQuery(f"_exists_ needs a field name, not a pattern: '{term}'.")
            return Row(Sql(f"{self.column(term.literal)} IS NOT NULL"))
        column = self.column(field)
        if term.is_any:
            return Row(Sql(f"{column} IS NOT NULL"))
        if field == "date" and not term.has_wildcards:
            return Row(self.date_range(column, Bounds(term, term, True, True), field))
        return Row(self.text_condition(column, term))

    def ranged(self, field: str | None, bounds: Bounds) -> Node:
        if field is None or field == EXISTS:
            raise InvalidQuery("A range needs a field: use field:[low TO high].")
        column = self.column(field)
        if field == "date":
            return Row(self.date_range(column, bounds, field))
        return Row(self.text_range(column, bounds))

    def column(self, field: str) -> str:
        """The SQL expression of a field (a details path read out of its JSON)."""
        if field in FIELDS:
            return field
        if field.startswith(DETAILS + "."):
            keys = field.split(".")[1:]
            if len(keys) > MAX_DETAIL_DEPTH or not all(_DETAIL_KEY.fullmatch(k) for k in keys):
                raise InvalidQuery(f"Unsupported details path: '{field}'.")
            if self.dialect.placeholder == "?":
                path = "$" + "".join(f'."{key}"' for key in keys)
                return f"json_extract(details, '{path}')"
            return "(details::jsonb #>> '{" + ",".join(keys) + "}')"
        raise InvalidQuery(f"Unknown field '{field}': search {', '.join(FIELDS)} or details.<key>.")
