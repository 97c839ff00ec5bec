"""The README as a doc test: its shell blocks, the output each one shows, and how an actual
output is held against it.

Conventions (the README states them in its walk-through):
- a ```` ```sh ```` block is commands; a ```` ```json ```` or ```` ```text ```` block right after
  it (with nothing but blank lines between) is what they print; without one, they print nothing;
- `…` is a wildcard: inside a text line or a JSON string it stands for any characters, as a
  JSON value for any value, and `"…": "…"` in an object for any further keys;
- JSON is compared as JSON (the README spreads it out, curl prints it on one line), several
  documents one after another; text is compared line by line, trailing blanks aside;
- a block whose first line is `# doc test: skip — REASON` is not run; one whose first line is
  `# doc test: server — REASON` is the server's start: its `export`s configure the server the
  test starts, in place of its `make run`.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

WILDCARD = "…"
FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
MARKER = re.compile(r"^# doc test: (?P<kind>skip|server) — (?P<reason>.+)$")
OUTPUT_LANGUAGES = ("json", "text")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, from 1
    end: int  # of the closing fence
    language: str
    text: str


@dataclass(frozen=True)
class Example:
    """A shell block of the README and the output shown after it."""

    line: int
    commands: str
    output: Block | None

    @property
    def marker(self) -> tuple[str, str] | None:
        """`(kind, reason)` of a `# doc test:` first line."""
        found = MARKER.match(self.commands.split("\n", 1)[0])
        return (found["kind"], found["reason"]) if found else None


def blocks(markdown: str) -> list[Block]:
    """The fenced blocks of `markdown` (fences at the start of a line)."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(line)
        if opened is None and fence:
            opened, body = (number, fence["language"]), []
        elif opened is not None and line.rstrip() == "```":
            found.append(Block(opened[0], number, opened[1], "".join(f"{row}\n" for row in body)))
            opened = None
        elif opened is not None:
            body.append(line)
    assert opened is None, f"the block opened at line {opened[0]} is not closed"
    return found


def examples(markdown: str) -> list[Example]:
    """Every `sh` block, with the output block that follows it directly, if any."""
    lines = markdown.splitlines()
    every = blocks(markdown)
    found = []
    for block, after in zip(every, [*every[1:], None], strict=True):
        if block.language != "sh":
            continue
        output = None
        if after is not None and after.language in OUTPUT_LANGUAGES:
            between = lines[block.end : after.line - 1]
            output = None if any(line.strip() for line in between) else after
        found.append(Example(block.line, block.text, output))
    return found


def server_environment(commands: str) -> dict[str, str]:
    """The variables a server block exports; it may hold nothing else but its `make run`."""
    words = shlex.split(commands, comments=True)
    assert words[-2:] == ["make", "run"], f"a server block ends with `make run`: {words[-2:]}"
    assignments = [word for word in words[:-2] if word != "export"]
    assert all("=" in word for word in assignments), f"not only exports: {assignments}"
    return dict(word.split("=", 1) for word in assignments)


def mismatch(output: Block, actual: str) -> str | None:
    """What differs between the output the README shows and `actual`; None when they match."""
    if output.language == "json":
        return _json_mismatch(output.text, actual)
    return _text_mismatch(output.text, actual)


def json_documents(text: str) -> list[Any]:
    """The JSON documents in `text`, one after another; ValueError for anything else."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := _skip_blanks(text, at)) < len(text):
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def _skip_blanks(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _json_mismatch(shown: str, actual: str) -> str | None:
    try:
        found = json_documents(actual)
    except ValueError as error:
        return f"the output is not JSON ({error})"
    return value_mismatch(json_documents(shown), found, "documents")


def value_mismatch(expected: Any, actual: Any, path: str) -> str | None:
    """Where `actual` departs from `expected` (with its wildcards), or None."""
    if expected == WILDCARD:
        return None
    if isinstance(expected, str) and WILDCARD in expected:
        if isinstance(actual, str) and _pattern(expected).fullmatch(actual):
            return None
    elif isinstance(expected, dict) and isinstance(actual, dict):
        return _object_mismatch(expected, actual, path)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} items, {len(expected)} shown"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if (difference := value_mismatch(want, got, f"{path}[{index}]")) is not None:
                return difference
        return None
    # `type` too: JSON's true is not 1.
    elif type(expected) is type(actual) and expected == actual:
        return None
    return f"{path}: {_shown(actual)} where the README shows {_shown(expected)}"


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _object_mismatch(expected: dict[str, Any], actual: dict[str, Any], path: str) -> str | None:
    more_allowed = expected.get(WILDCARD) == WILDCARD
    keys = set(expected) - {WILDCARD} if more_allowed else set(expected)
    if missing := keys - set(actual):
        return f"{path}: no {sorted(missing)}"
    if not more_allowed and (extra := set(actual) - keys):
        return f"{path}: {sorted(extra)} not shown"
    for key in expected:
        if key in keys:
            difference = value_mismatch(expected[key], actual[key], f"{path}.{key}")
            if difference is not None:
                return difference
    return None


def _text_mismatch(shown: str, actual: str) -> str | None:
    expected, found = _lines(shown), _lines(actual)
    for number, (want, got) in enumerate(zip(expected, found, strict=False), start=1):
        if not _pattern(want).fullmatch(got):
            return f"line {number}: {got!r} where the README shows {want!r}"
    if len(expected) != len(found):
        return f"{len(found)} lines printed, {len(expected)} shown"
    return None


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.split(WILDCARD)), re.DOTALL)
