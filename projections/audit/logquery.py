"""Auth0 log search (`GET /api/v2/logs?q=…`): the Lucene syntax of user search, over log fields.

Parsed by luqum with user search's parser, bounds and terms (`projections.search`): `field:value`
and `"phrases"` match the whole value, case-sensitively; `*` wildcards; `[a TO b]` ranges;
AND / OR / NOT and Lucene's juxtaposed clauses; `_exists_:field`. `date` takes partial dates
(`date:2026-10` is all of October); `details.a.b` looks into the record's details. A term
without a field looks in the description, the user name and the user id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from luqum.tree import (
    AndOperation,
    Boost,
    FieldGroup,
    Group,
    Item,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Range,
    SearchField,
    UnknownOperation,
    Word,
)
from luqum.tree import From as OpenFrom
from luqum.tree import To as OpenTo

from metaledger.domain.storage import Dialect
from metaledger.projections.audit.records import LOG_FIELDS
from metaledger.projections.search.conditions import Sql
from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.leaves import Bounds, Leaves
from metaledger.projections.search.query import MAX_QUERY_CLAUSES, MAX_QUERY_DEPTH, parse
from metaledger.projections.search.query import _bound as bound
from metaledger.projections.search.terms import Term

FIELDS = LOG_FIELDS
BARE_TERM_FIELDS = ("description", "user_name", "user_id")
DETAILS = "details"
_DETAIL_KEY = re.compile(r"[A-Za-z0-9_\-$@]+")
MAX_DETAIL_DEPTH = 8


@dataclass(frozen=True)
class Predicate:
    """A condition on a log record row, and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


EVERY_RECORD = Predicate("1 = 1")


class LogQueryTranslator:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.leaves = Leaves(dialect)

    def translate(self, q: str | None) -> Predicate:
        if q is None or not q.strip():
            return EVERY_RECORD
        sql = _Translation(self).node(parse(q), None, 0)
        return Predicate(sql.text, sql.params)

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


class _Translation:
    def __init__(self, translator: LogQueryTranslator) -> None:
        self.translator = translator
        self.leaves = translator.leaves
        self.clauses = 0

    def node(self, node: Item, field: str | None, depth: int) -> Sql:
        if depth > MAX_QUERY_DEPTH:
            raise InvalidQuery(f"The query is nested deeper than {MAX_QUERY_DEPTH} levels.")
        deeper = depth + 1
        if isinstance(node, SearchField):
            if field is not None:
                raise InvalidQuery(f"Field '{node.name}' is nested inside field '{field}'.")
            return self.node(node.expr, node.name, deeper)
        if isinstance(node, Group | FieldGroup | Boost):
            return self.node(node.expr, field, deeper)
        if isinstance(node, AndOperation):
            return _joined(" AND ", [self.node(child, field, deeper) for child in node.operands])
        if isinstance(node, OrOperation):
            return _joined(" OR ", [self.node(child, field, deeper) for child in node.operands])
        if isinstance(node, UnknownOperation):
            return self.clauses_of(node.operands, field, deeper)
        if isinstance(node, Not | Prohibit):
            inner = self.node(node.a, field, deeper)
            return Sql(f"NOT ({inner.text})", inner.params)
        if isinstance(node, Plus):
            return self.node(node.a, field, deeper)
        if isinstance(node, Word | Phrase):
            self.count_clause()
            return self.match(field, Term.of(node))
        if isinstance(node, Range | OpenFrom | OpenTo):
            self.count_clause()
            return self.ranged(field, _bounds(node))
        raise InvalidQuery(f"Unsupported query element: '{node}'.")

    def clauses_of(self, operands: Sequence[Item], field: str | None, depth: int) -> Sql:
        must: list[Sql] = []
        must_not: list[Sql] = []
        should: list[Sql] = []
        for operand in operands:
            if isinstance(operand, Plus):
                must.append(self.node(operand.a, field, depth))
            elif isinstance(operand, Not | Prohibit):
                must_not.append(self.node(operand.a, field, depth))
            else:
                should.append(self.node(operand, field, depth))
        conditions = list(must)
        if must_not:
            excluded = _joined(" OR ", must_not)
            conditions.append(Sql(f"NOT ({excluded.text})", excluded.params))
        if should and not must:
            conditions.append(_joined(" OR ", should))
        return _joined(" AND ", conditions)

    def match(self, field: str | None, term: Term) -> Sql:
        if field is None:
            if term.is_any:
                return Sql("1 = 1")
            return _joined(
                " OR ", [self.leaves.text_condition(name, term) for name in BARE_TERM_FIELDS]
            )
        if field == "_exists_":
            if term.has_wildcards:
                raise InvalidQuery(f"_exists_ needs a field name, not a pattern: '{term}'.")
            return Sql(f"{self.translator.column(term.literal)} IS NOT NULL")
        column = self.translator.column(field)
        if term.is_any:
            return Sql(f"{column} IS NOT NULL")
        if field == "date" and not term.has_wildcards:
            return self.leaves.date_range(column, Bounds(term, term, True, True), field)
        return self.leaves.text_condition(column, term)

    def ranged(self, field: str | None, bounds: Bounds) -> Sql:
        if field is None:
            raise InvalidQuery("A range needs a field.")
        column = self.translator.column(field)
        if field == "date":
            return self.leaves.date_range(column, bounds, field)
        return self.leaves.text_range(column, bounds)

    def count_clause(self) -> None:
        self.clauses += 1
        if self.clauses > MAX_QUERY_CLAUSES:
            raise InvalidQuery(f"The query has more than {MAX_QUERY_CLAUSES} terms.")


def _bounds(node: Range | OpenFrom | OpenTo) -> Bounds:
    if isinstance(node, Range):
        return Bounds(bound(node.low), bound(node.high), node.include_low, node.include_high)
    if isinstance(node, OpenFrom):
        return Bounds(bound(node.a), None, node.include, True)
    return Bounds(None, bound(node.a), True, node.include)


def _joined(operator: str, parts: Sequence[Sql]) -> Sql:
    if not parts:
        return Sql("1 = 1")
    if len(parts) == 1:
        return parts[0]
    return Sql(
        operator.join(f"({part.text})" for part in parts),
        tuple(param for part in parts for param in part.params),
    )
