"""Query values: wildcards and escapes, numbers, partial dates, prefix bounds."""

from __future__ import annotations

import pytest
from luqum.tree import Phrase, Word

from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.terms import Term, date_prefix, number, successor


def test_a_word_splits_at_its_wildcards() -> None:
    assert Term.of(Word("ja*e*")).parts == ("ja", "e", "")


def test_an_escaped_star_is_literal() -> None:
    assert Term.of(Word(r"e\*rin")).parts == ("e*rin",)


def test_an_escaped_space_is_part_of_the_value() -> None:
    assert Term.of(Word(r"John\ Doe")).literal == "John Doe"


def test_a_phrase_has_no_wildcards() -> None:
    assert Term.of(Phrase('"a*b"')).parts == ("a*b",)


def test_a_phrase_unescapes_its_quotes() -> None:
    assert Term.of(Phrase(r'"say \"hi\""')).literal == 'say "hi"'


def test_the_question_mark_wildcard_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="not supported"):
        Term.of(Word("j?ne"))


def test_an_escaped_question_mark_is_literal() -> None:
    assert Term.of(Word(r"why\?")).literal == "why?"


def test_a_leading_wildcard_needs_three_literal_characters() -> None:
    with pytest.raises(InvalidQuery, match="at least 3"):
        Term.of(Word("*ab")).check_wildcards()


def test_a_leading_wildcard_with_three_literal_characters_passes() -> None:
    Term.of(Word("*usa")).check_wildcards()


def test_a_prefix_wildcard_needs_no_minimum() -> None:
    Term.of(Word("j*")).check_wildcards()


def test_too_many_wildcards_are_refused() -> None:
    with pytest.raises(InvalidQuery, match="at most 8 wildcards"):
        Term.of(Word("a*" * 9)).check_wildcards()


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", 42), ("-7", -7), ("4.5", 4.5), ("1e3", 1000.0), ("abc", None), ("1e999", None)],
)
def test_number_reads_what_a_column_can_hold(text: str, value: float | None) -> None:
    assert number(text) == value


def test_an_integer_beyond_64_bits_is_not_a_number() -> None:
    assert number("9" * 30) is None


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("2017", "2017"),
        ("2017-12", "2017-12"),
        ("2017-12-31T10:00", "2017-12-31T10:00"),
        ("2017-12-31T10:00:00.123Z", "2017-12-31T10:00:00.123"),
        ("yesterday", None),
        ("2017-1", None),
    ],
)
def test_date_prefix_names_the_period(text: str, prefix: str | None) -> None:
    assert date_prefix(text) == prefix


def test_the_successor_of_a_prefix_bounds_every_string_it_starts() -> None:
    assert (successor("abc"), "abcz" < "abd") == ("abd", True)


def test_the_successor_skips_the_surrogate_range() -> None:
    assert successor("a\ud7ff") == "a\ue000"


def test_a_prefix_of_only_the_last_code_point_has_no_successor() -> None:
    assert successor("\U0010ffff") is None
