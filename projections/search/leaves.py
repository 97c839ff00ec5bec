"""The leaves of a query: one field's term or range as a SQL condition, values as parameters.

A root field is a column of the users row (alias `u`), compared as its kind says: text (case
folded or not), boolean, integer or date. A metadata field is a path among the metadata entries
(alias `m`), whose value is text and, when it reads as a number, a number as well. Wildcards
become a range on the indexed column for the literal prefix plus a GLOB/LIKE check, never a
regular expression; a partial date (`2017-12`) stands for its whole period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metaledger.domain.storage import Dialect
from metaledger.projections.search.conditions import EVERYONE, Entries, Node, Row, Sql, any_of, join
from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.fields import (
    BARE_TERM_FIELDS,
    EXISTS_FIELD,
    ROOT_FIELDS,
    Kind,
    RootField,
    metadata_bucket,
)
from metaledger.projections.search.terms import PERIOD_END, Term, date_prefix, number, successor


@dataclass(frozen=True)
class Bounds:
    low: Term | None  # None: open (`*`)
    high: Term | None
    include_low: bool
    include_high: bool


class Leaves:
    """Builds the conditions of leaves in one dialect's SQL."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def match(self, field: str | None, term: Term) -> Node:
        """`field:term`, or a bare `term` (field None), which looks in the root text fields."""
        if field is None:
            return self.bare(term)
        if field == EXISTS_FIELD:
            return self.exists(term)
        if metadata_bucket(field):
            return self.metadata_match(_metadata_path(field), term)
        return self.root_match(_root_field(field), term)

    def ranged(self, field: str | None, bounds: Bounds) -> Node:
        """`field:[low TO high]` and its open and exclusive forms."""
        if field is None or field == EXISTS_FIELD:
            raise InvalidQuery("A range needs a field: use field:[low TO high].")
        if metadata_bucket(field):
            return self.metadata_range(_metadata_path(field), bounds)
        root = _root_field(field)
        column = f"u.{root.column}"
        if bounds.low is None and bounds.high is None:
            return self.exists(Term((root.name,)))
        if root.kind is Kind.INTEGER:
            return Row(self.numeric_range(column, bounds, root.name))
        if root.kind is Kind.DATE:
            return Row(self.date_range(column, bounds, root.name))
        if root.kind is Kind.BOOLEAN:
            raise InvalidQuery(f"Ranges are not supported on {root.name}.")
        if root.kind is Kind.FOLDED_TEXT:
            bounds = Bounds(
                bounds.low and bounds.low.folded(),
                bounds.high and bounds.high.folded(),
                bounds.include_low,
                bounds.include_high,
            )
        return Row(self.text_range(column, bounds))

    # Terms

    def bare(self, term: Term) -> Node:
        if term.is_any:
            return EVERYONE
        return any_of([Row(self.text_match(field, term)) for field in BARE_TERM_FIELDS])

    def exists(self, term: Term) -> Node:
        if term.has_wildcards:
            raise InvalidQuery(f"_exists_ needs a field name, not a pattern: '{term}'.")
        name = term.literal
        if metadata_bucket(name):
            return Entries(self.path_exists(name), unique=False)
        field = _root_field(name)
        return Row(Sql(f"u.{field.column} IS NOT NULL")) if field.nullable else EVERYONE

    def root_match(self, field: RootField, term: Term) -> Node:
        if term.is_any:
            return self.exists(Term((field.name,)))
        if field.kind in (Kind.TEXT, Kind.FOLDED_TEXT):
            return Row(self.text_match(field, term))
        if term.has_wildcards:
            raise InvalidQuery(f"Wildcards are not supported on {field.name}: '{term}'.")
        column = f"u.{field.column}"
        if field.kind is Kind.BOOLEAN:
            if term.literal not in ("true", "false"):
                raise InvalidQuery(f"{field.name} is true or false, not '{term}'.")
            return Row(self.compare(column, "=", term.literal == "true"))
        if field.kind is Kind.INTEGER:
            return Row(self.compare(column, "=", _number_of(field.name, term)))
        start = _date_of(field.name, term)
        return Row(
            _both(
                [self.compare(column, ">=", start), self.compare(column, "<=", start + PERIOD_END)]
            )
        )

    def text_match(self, field: RootField, term: Term) -> Sql:
        if field.kind is Kind.FOLDED_TEXT:
            term = term.folded()
        return self.text_condition(f"u.{field.column}", term)

    def text_condition(self, column: str, term: Term) -> Sql:
        if not term.has_wildcards:
            return self.compare(column, "=", term.literal)
        term.check_wildcards()
        conditions = []
        if term.prefix:
            conditions.append(self.compare(column, ">=", term.prefix))
            upper = successor(term.prefix)
            if upper is not None:
                conditions.append(self.compare(column, "<", upper))
        if term.parts[1:] != ("",):  # more than a prefix: check the whole pattern
            conditions.append(
                Sql(
                    f"{column} {self.dialect.pattern_operator} {self.dialect.placeholder}",
                    (self.dialect.pattern(term.parts),),
                )
            )
        return _both(conditions)

    def compare(self, column: str, operator: str, value: Any) -> Sql:
        return Sql(f"{column} {operator} {self.dialect.placeholder}", (value,))

    # Ranges

    def text_range(self, column: str, bounds: Bounds) -> Sql:
        return self.range_of(
            column,
            bounds.low.literal if bounds.low else None,
            bounds.high.literal if bounds.high else None,
            bounds,
        )

    def numeric_range(self, column: str, bounds: Bounds, name: str) -> Sql:
        return self.range_of(
            column,
            _number_of(name, bounds.low) if bounds.low else None,
            _number_of(name, bounds.high) if bounds.high else None,
            bounds,
        )

    def date_range(self, column: str, bounds: Bounds, name: str) -> Sql:
        """A partial date covers its period: `[* TO 2017-12]` takes in all of December."""
        low = _date_of(name, bounds.low) if bounds.low else None
        high = _date_of(name, bounds.high) if bounds.high else None
        conditions = []
        if low is not None:
            conditions.append(
                self.compare(column, ">=", low)
                if bounds.include_low
                else self.compare(column, ">", low + PERIOD_END)
            )
        if high is not None:
            conditions.append(
                self.compare(column, "<=", high + PERIOD_END)
                if bounds.include_high
                else self.compare(column, "<", high)
            )
        return _both(conditions)

    def range_of(self, column: str, low: Any, high: Any, bounds: Bounds) -> Sql:
        conditions = []
        if low is not None:
            conditions.append(self.compare(column, ">=" if bounds.include_low else ">", low))
        if high is not None:
            conditions.append(self.compare(column, "<=" if bounds.include_high else "<", high))
        return _both(conditions)

    # Metadata: entries (key, path, text, num) in a table of their own

    def metadata_match(self, path: str, term: Term) -> Node:
        if term.is_any:
            return Entries(self.path_exists(path), unique=False)
        at_path = self.compare("m.path", "=", path)
        if term.has_wildcards:
            return Entries(_both([at_path, self.text_condition("m.text", term)]), unique=False)
        as_text = _both([at_path, self.compare("m.text", "=", term.literal)])
        value = number(term.literal)
        if value is None:
            return Entries(as_text, unique=True, value=(path, term.literal))
        # 30 finds the number 30 (and 30.0) as well as the string "30".
        as_number = _both([at_path, self.compare("m.num", "=", float(value))])
        return Entries(join("OR", [as_text, as_number]), unique=False)

    def metadata_range(self, path: str, bounds: Bounds) -> Node:
        if bounds.low is None and bounds.high is None:
            return Entries(self.path_exists(path), unique=False)
        given = [bound.literal for bound in (bounds.low, bounds.high) if bound is not None]
        at_path = self.compare("m.path", "=", path)
        if all(number(text) is not None for text in given):
            low, high = (_float_of(path, bound) for bound in (bounds.low, bounds.high))
            values = self.range_of("m.num", low, high, bounds)
        elif all(date_prefix(text) is not None for text in given):
            values = self.date_range("m.text", bounds, path)
        else:
            values = self.text_range("m.text", bounds)
        return Entries(_both([at_path, values]), unique=False)

    def path_exists(self, path: str) -> Sql:
        """The path holds a value, or is an object (or array of objects) that holds one: one
        range of the index (from the path to the path and "/", which follows "."), less the
        neighbours in it whose name only starts like the path (`plan-old`). The last test is
        on the character after the path, so that it stays a filter on the index range."""
        m = self.dialect.placeholder
        return _both(
            [
                self.compare("m.path", ">=", path),
                self.compare("m.path", "<", path + "/"),
                Sql(f"substr(m.path, {m}, 1) IN ('', '.')", (len(path) + 1,)),
            ]
        )


def _both(parts: list[Sql]) -> Sql:
    return join("AND", parts) if parts else Sql("1 = 1")


def _root_field(name: str) -> RootField:
    field = ROOT_FIELDS.get(name)
    if field is None:
        hint = " Use identities.connection." if name == "connection" else ""
        raise InvalidQuery(f"The field '{name}' is not searchable.{hint}")
    return field


def _metadata_path(field: str) -> str:
    if field.endswith(".") or ".." in field or "." not in field:
        raise InvalidQuery(f"Name a key inside the metadata: '{field}.key'.")
    return field


def _number_of(name: str, term: Term) -> int | float:
    value = number(term.literal)
    if value is None:
        raise InvalidQuery(f"{name} takes a number, not '{term}'.")
    return value


def _float_of(name: str, term: Term | None) -> float | None:
    return None if term is None else float(_number_of(name, term))


def _date_of(name: str, term: Term) -> str:
    value = date_prefix(term.literal)
    if value is None:
        raise InvalidQuery(f"{name} takes a date like 2017-12-31 or 2017-12, not '{term}'.")
    return value
