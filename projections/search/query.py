"""Auth0 user-search queries (Lucene syntax, parsed by luqum) as trees of SQL conditions.

This module parses a query, bounds its size and walks its tree; `leaves` turns each term or
range into a condition, with every value a parameter that never enters the SQL text.

The semantics, Auth0's (search engine v3) where it says, Lucene's otherwise:
- `field:value` and `field:"a phrase"` match the whole value (fields are not tokenized);
  email, name, given_name, family_name and nickname ignore case, everything else respects it;
- explicit `AND`, `OR`, `NOT` are boolean logic; juxtaposed clauses follow Lucene (`+` must,
  `-` must not, the rest should match, any one of them when nothing is required);
- a term without a field looks in the root text fields, never in metadata;
- on a date field a partial date (`2017-12`) stands for its whole period;
- extensions: ranges and wildcards on metadata (numeric ranges when the bounds are numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse as parse_lucene
from luqum.tree import (
    AndOperation,
    Boost,
    FieldGroup,
    Fuzzy,
    Group,
    Item,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Proximity,
    Range,
    Regex,
    SearchField,
    UnknownOperation,
    Word,
)
from luqum.tree import From as OpenFrom
from luqum.tree import To as OpenTo

from metaledger.domain.storage import Dialect
from metaledger.projections.search.conditions import (
    EVERYONE,
    Node,
    Tables,
    all_of,
    any_of,
    negation,
)
from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.leaves import Bounds, Leaves
from metaledger.projections.search.terms import Term

MAX_QUERY_CLAUSES = 64
MAX_QUERY_DEPTH = 32


def parse(q: str) -> Item:
    if "\x00" in q:
        raise InvalidQuery("The query contains a NUL character.")
    try:
        tree: Item = parse_lucene(q)
    except IllegalCharacterError as error:
        raise InvalidQuery(f"Cannot parse the query: {error}.") from None
    except ParseError as error:
        detail = str(error).removeprefix("Syntax error in input : ").rstrip("!")
        raise InvalidQuery(f"Cannot parse the query: {' '.join(detail.split())}.") from None
    return tree


class QueryTranslator:
    def __init__(self, dialect: Dialect, tables: Tables) -> None:
        self.dialect = dialect
        self.tables = tables
        self.leaves = Leaves(dialect)

    def translate(self, q: str | None) -> Node:
        if q is None or not q.strip():
            return EVERYONE
        return _Translation(self.leaves).node(parse(q), None, 0)


class _Translation:
    """One query's translation: counts its clauses so no query grows without bound."""

    def __init__(self, leaves: Leaves) -> None:
        self.leaves = leaves
        self.clauses = 0

    def node(self, node: Item, field: str | None, depth: int) -> Node:
        if depth > MAX_QUERY_DEPTH:
            raise InvalidQuery(f"The query is nested deeper than {MAX_QUERY_DEPTH} levels.")
        deeper = depth + 1
        if isinstance(node, SearchField):
            if field is not None:
                raise InvalidQuery(f"Field '{node.name}' is nested inside field '{field}'.")
            return self.node(node.expr, node.name, deeper)
        if isinstance(node, Group | FieldGroup | Boost):  # a boost changes no match
            return self.node(node.expr, field, deeper)
        if isinstance(node, AndOperation):
            return all_of([self.node(child, field, deeper) for child in node.operands])
        if isinstance(node, OrOperation):
            return any_of([self.node(child, field, deeper) for child in node.operands])
        if isinstance(node, UnknownOperation):
            return self.clauses_of(node.operands, field, deeper)
        if isinstance(node, Not | Prohibit):
            return negation(self.node(node.a, field, deeper))
        if isinstance(node, Plus):
            return self.node(node.a, field, deeper)
        if isinstance(node, Word | Phrase):
            self.count_clause()
            return self.leaves.match(field, Term.of(node))
        if isinstance(node, Range):
            bounds = Bounds(
                _bound(node.low), _bound(node.high), node.include_low, node.include_high
            )
            return self.ranged(field, bounds)
        if isinstance(node, OpenFrom):
            return self.ranged(field, Bounds(_bound(node.a), None, node.include, True))
        if isinstance(node, OpenTo):
            return self.ranged(field, Bounds(None, _bound(node.a), True, node.include))
        if isinstance(node, Fuzzy | Proximity):
            raise InvalidQuery(f"Fuzzy and proximity searches are not supported: '{node}'.")
        if isinstance(node, Regex):
            raise InvalidQuery(f"Regular expressions are not supported: '{node}'.")
        raise InvalidQuery(f"Unsupported query element: '{node}'.")

    def clauses_of(self, operands: Sequence[Item], field: str | None, depth: int) -> Node:
        """Lucene's clause logic for juxtaposed clauses (no AND/OR between them)."""
        must: list[Node] = []
        must_not: list[Node] = []
        should: list[Node] = []
        for operand in operands:
            if isinstance(operand, Plus):
                must.append(self.node(operand.a, field, depth))
            elif isinstance(operand, Not | Prohibit):
                must_not.append(self.node(operand.a, field, depth))
            else:
                should.append(self.node(operand, field, depth))
        conditions = list(must)
        if must_not:
            conditions.append(negation(any_of(must_not)))
        if should and not must:
            conditions.append(any_of(should))
        return all_of(conditions)

    def ranged(self, field: str | None, bounds: Bounds) -> Node:
        self.count_clause()
        return self.leaves.ranged(field, bounds)

    def count_clause(self) -> None:
        self.clauses += 1
        if self.clauses > MAX_QUERY_CLAUSES:
            raise InvalidQuery(f"The query has more than {MAX_QUERY_CLAUSES} terms.")


def _bound(node: Item) -> Term | None:
    term = Term.of(node)
    if term.is_any:
        return None
    if term.has_wildcards:
        raise InvalidQuery(f"Range bounds cannot hold wildcards: '{term}'.")
    return term
