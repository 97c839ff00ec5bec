"""The values in a query: terms with `*` wildcards, numbers and (partial) dates."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from luqum.tree import Item, Phrase, Plus, Prohibit, Word

from metaledger.projections.search.errors import InvalidQuery

# Auth0: a suffix or infix wildcard needs at least this many literal characters.
MIN_LITERALS_AFTER_LEADING_WILDCARD = 3
MAX_WILDCARDS_PER_TERM = 8
INT64 = 2**63

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?)?)?)?Z?")
# Greater than every character of an ISO-8601 timestamp: `p + PERIOD_END` sorts after every
# timestamp that starts with `p`, so a partial date stands for its whole period.
PERIOD_END = "~"


@dataclass(frozen=True)
class Term:
    """A value as typed: the literal pieces between its unescaped `*` wildcards."""

    parts: tuple[str, ...]

    @classmethod
    def of(cls, node: Item) -> Term:
        if isinstance(node, Phrase):
            return cls((_unescape(node.value[1:-1]),))
        if isinstance(node, Word):
            return cls(_word_parts(node.value))
        # Lucene reads `-5` or `+1555` as an operator and a word; as a value it is the text.
        if isinstance(node, Prohibit | Plus) and isinstance(node.a, Word):
            inner = cls.of(node.a)
            return cls((node.op + inner.parts[0], *inner.parts[1:]))
        raise InvalidQuery(f"Expected a value at position {node.pos}, found '{node}'.")

    @property
    def has_wildcards(self) -> bool:
        return len(self.parts) > 1

    @property
    def is_any(self) -> bool:
        """A lone `*`: any value."""
        return self.parts == ("", "")

    @property
    def literal(self) -> str:
        return "".join(self.parts)

    @property
    def prefix(self) -> str:
        return self.parts[0]

    def folded(self) -> Term:
        return Term(tuple(part.lower() for part in self.parts))

    def check_wildcards(self) -> None:
        if len(self.parts) - 1 > MAX_WILDCARDS_PER_TERM:
            raise InvalidQuery(
                f"A term may hold at most {MAX_WILDCARDS_PER_TERM} wildcards: '{self}'."
            )
        literals = len(self.literal)
        if not self.prefix and literals < MIN_LITERALS_AFTER_LEADING_WILDCARD:
            raise InvalidQuery(
                "A wildcard at the start of a term needs at least "
                f"{MIN_LITERALS_AFTER_LEADING_WILDCARD} other characters: '{self}'."
            )

    def __str__(self) -> str:
        return "*".join(self.parts)


def _word_parts(value: str) -> tuple[str, ...]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            parts.append("".join(current))
            current = []
        elif char == "?":
            raise InvalidQuery(
                f"The '?' wildcard is not supported (in '{value}'); use '*' or escape it as '\\?'."
            )
        else:
            current.append(char)
    parts.append("".join(current))
    return tuple(parts)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)


def number(text: str) -> int | float | None:
    """The number a term spells, if it spells one a 64-bit column can hold."""
    if not _NUMBER.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        whole = int(text)
        return whole if -INT64 <= whole < INT64 else None
    value = float(text)
    return value if math.isfinite(value) else None


def date_prefix(text: str) -> str | None:
    """`2017-12`, `2017-12-31T10:00` or a full timestamp, without its `Z`: the start of the
    period the value names, which stored timestamps in that period all begin with."""
    return text.removesuffix("Z") if _DATE.fullmatch(text) else None


def successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (code point
    order, which is the byte order of UTF-8 that both stores sort text by)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD800 <= last + 1 <= 0xDFFF else 0xE000
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None
