"""How the README's doc test reads the README: which output belongs to which block, what the
`…` wildcard stands for, and what a server block configures."""

from __future__ import annotations

from tests.support import readme

MARKDOWN = """Intro.

```sh
# doc test: server — started by the test
export METALEDGER_A=1 METALEDGER_B='[{"x": 1,
  "y": 2}]'
make run
```

```sh
curl one
```

```json
{"id": "auth0|…", "n": 1}
```

```sh
curl two
```

Prose between.

```text
not the output of `curl two`
```
"""


def json_block(text: str) -> readme.Block:
    return readme.Block(1, 2, "json", text)


def text_block(text: str) -> readme.Block:
    return readme.Block(1, 2, "text", text)


def test_a_shell_block_takes_only_the_output_block_right_after_it() -> None:
    server, one, two = readme.examples(MARKDOWN)
    assert server.marker == ("server", "started by the test")
    assert (one.line, one.commands, one.marker) == (10, "curl one\n", None)
    assert one.output == readme.Block(14, 16, "json", '{"id": "auth0|…", "n": 1}\n')
    assert two.output is None


def test_a_server_block_gives_the_variables_it_exports() -> None:
    server = readme.examples(MARKDOWN)[0]
    assert readme.server_environment(server.commands) == {
        "METALEDGER_A": "1",
        "METALEDGER_B": '[{"x": 1,\n  "y": 2}]',
    }


def test_the_wildcard_stands_for_any_value_or_any_characters_in_a_string() -> None:
    shown = json_block('{"id": "auth0|…", "at": "…", "roles": ["…"]}')
    assert readme.mismatch(shown, '{"id": "auth0|65a1", "at": 17, "roles": [{"a": 1}]}') is None
    assert readme.mismatch(shown, '{"id": "email|65a1", "at": 17, "roles": ["x"]}') == (
        'documents[0].id: "email|65a1" where the README shows "auth0|…"'
    )


def test_an_object_has_more_keys_only_where_it_shows_the_wildcard_key() -> None:
    assert readme.mismatch(json_block('{"a": 1, "…": "…"}'), '{"a": 1, "b": 2}') is None
    assert readme.mismatch(json_block('{"a": 1}'), '{"a": 1, "b": 2}') == (
        "documents[0]: ['b'] not shown"
    )
    assert readme.mismatch(json_block('{"a": 1, "…": "…"}'), '{"b": 2}') == "documents[0]: no ['a']"


def test_json_is_compared_as_json_document_by_document() -> None:
    shown = json_block('{"ok": true}\n[1,\n 2]')
    assert readme.mismatch(shown, '{"ok":true}\n[1,2]\n') is None
    assert readme.mismatch(shown, '{"ok":1}\n[1,2]\n') == (
        "documents[0].ok: 1 where the README shows true"
    )
    assert readme.mismatch(shown, '{"ok":true}\n') == "documents: 1 items, 2 shown"
    assert readme.mismatch(shown, "Internal Server Error") is not None


def test_text_is_compared_line_by_line_with_wildcards() -> None:
    shown = text_block("204\nv4  …  UserDeleted\n\n")
    assert readme.mismatch(shown, "204\nv4  2026-12-05T02:52  UserDeleted  \n") is None
    assert readme.mismatch(shown, "204\nv4  x  UserCreated\n") == (
        "line 2: 'v4  x  UserCreated' where the README shows 'v4  …  UserDeleted'"
    )
    assert readme.mismatch(shown, "204\n") == "1 lines printed, 2 shown"
