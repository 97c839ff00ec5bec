"""A translated query: a tree of conditions, rendered as SQL in one of two shapes.

- `predicate`: a boolean expression on a users row (alias `u`), for sorted pages, where the
  database walks the sort column's index and tests each row;
- `key_set`: a SELECT of the matching users' keys, with AND, OR and NOT as INTERSECT, UNION
  and EXCEPT, for totals and for pages in key order. Each leaf reads one index in key order, so
  SQLite merges the sets as streams (a compound SELECT ordered by key) rather than looking up
  every match in the users table; a metadata leaf never touches the users table at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sql:
    """A fragment of SQL and its parameters."""

    text: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Tables:
    users: str
    metadata: str
    counts: str


class Node:
    """A condition on users."""


@dataclass(frozen=True)
class Everyone(Node):
    pass


@dataclass(frozen=True)
class Row(Node):
    """A condition on the users row's own columns."""

    sql: Sql


@dataclass(frozen=True)
class Entries(Node):
    """Users with a metadata entry (alias `m`) that meets the condition."""

    sql: Sql
    unique: bool  # at most one entry of a user can meet it
    value: tuple[str, str] | None = None  # (path, text) when it is one value exactly


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    child: Node


EVERYONE = Everyone()
NO_ONE = Row(Sql("1 = 0"))


def join(operator: str, parts: Sequence[Sql]) -> Sql:
    if len(parts) == 1:
        return parts[0]
    return Sql(
        f" {operator} ".join(f"({part.text})" for part in parts),
        tuple(param for part in parts for param in part.params),
    )


def all_of(nodes: Sequence[Node]) -> Node:
    """Conditions on the row alone stay one condition, which the database plans as a whole."""
    nodes = [node for node in nodes if not isinstance(node, Everyone)]
    if not nodes:
        return EVERYONE
    if len(nodes) == 1:
        return nodes[0]
    if all(isinstance(node, Row) for node in nodes):
        return Row(join("AND", [node.sql for node in nodes if isinstance(node, Row)]))
    return And(tuple(nodes))


def any_of(nodes: Sequence[Node]) -> Node:
    if not nodes:
        return NO_ONE
    if any(isinstance(node, Everyone) for node in nodes):
        return EVERYONE
    if len(nodes) == 1:
        return nodes[0]
    if all(isinstance(node, Row) for node in nodes):
        return Row(join("OR", [node.sql for node in nodes if isinstance(node, Row)]))
    return Or(tuple(nodes))


def negation(node: Node) -> Node:
    if isinstance(node, Row):
        # IS NOT TRUE, unlike NOT, also holds where the condition is NULL (a missing field).
        return Row(Sql(f"({node.sql.text}) IS NOT TRUE", node.sql.params))
    return Not(node)


def predicate(node: Node, tables: Tables, correlated: bool = False) -> Sql:
    """A boolean expression on the row `u`. `correlated` tests metadata entry by entry with
    EXISTS (for walking an index in sort order) rather than against the whole set (IN)."""
    if isinstance(node, Everyone):
        return Sql("1 = 1")
    if isinstance(node, Row):
        return node.sql
    if isinstance(node, Entries):
        if correlated:
            return Sql(
                f"EXISTS (SELECT 1 FROM {tables.metadata} m "
                f"WHERE m.key = u.key AND ({node.sql.text}))",
                node.sql.params,
            )
        return Sql(
            f"u.key IN (SELECT m.key FROM {tables.metadata} m WHERE {node.sql.text})",
            node.sql.params,
        )
    if isinstance(node, And | Or):
        operator = "AND" if isinstance(node, And) else "OR"
        return join(operator, [predicate(child, tables, correlated) for child in node.children])
    assert isinstance(node, Not)
    inner = predicate(node.child, tables, correlated)
    return Sql(f"({inner.text}) IS NOT TRUE", inner.params)


def key_set(node: Node, tables: Tables, joins: bool = False) -> Sql:
    """A SELECT of the distinct keys of the users that meet the condition. With `joins`, an
    AND of leaves is a join of their key sets (which PostgreSQL merges in key order) rather than
    an INTERSECT (which it hashes)."""
    return _keys(node, tables, joins)[0]


def _keys(node: Node, tables: Tables, joins: bool) -> tuple[Sql, bool]:
    """The key set, and whether it is a compound SELECT (which nests only as a subquery)."""
    if isinstance(node, Everyone):
        return Sql(f"SELECT key FROM {tables.users}"), False
    if isinstance(node, Row):
        return Sql(
            f"SELECT u.key FROM {tables.users} u WHERE {node.sql.text}", node.sql.params
        ), False
    if isinstance(node, Entries):
        distinct = "" if node.unique else "DISTINCT "
        return Sql(
            f"SELECT {distinct}m.key FROM {tables.metadata} m WHERE {node.sql.text}",
            node.sql.params,
        ), False
    if (
        joins
        and isinstance(node, And)
        and not any(isinstance(c, And | Or | Not) for c in node.children)
    ):
        sets = [_keys(child, tables, joins)[0] for child in node.children]
        first, *others = sets
        text = f"SELECT k0.key FROM ({first.text}) AS k0" + "".join(
            f" JOIN ({keys.text}) AS k{n} ON k{n}.key = k0.key"
            for n, keys in enumerate(others, start=1)
        )
        return Sql(text, tuple(param for keys in sets for param in keys.params)), False
    if isinstance(node, And | Or):
        operator = "INTERSECT" if isinstance(node, And) else "UNION"
        members = [_member(child, tables, joins) for child in node.children]
        return Sql(
            f" {operator} ".join(member.text for member in members),
            tuple(param for member in members for param in member.params),
        ), True
    assert isinstance(node, Not)
    excluded = _member(node.child, tables, joins)
    return Sql(f"SELECT key FROM {tables.users} EXCEPT {excluded.text}", excluded.params), True


def _member(node: Node, tables: Tables, joins: bool) -> Sql:
    keys, compound = _keys(node, tables, joins)
    return Sql(f"SELECT key FROM ({keys.text}) AS k", keys.params) if compound else keys


def reads_metadata(node: Node) -> bool:
    if isinstance(node, Entries):
        return True
    if isinstance(node, And | Or):
        return any(reads_metadata(child) for child in node.children)
    return isinstance(node, Not) and reads_metadata(node.child)
