"""The SQL a query becomes: values only ever as parameters, bounded size, index-friendly shapes."""

from __future__ import annotations

import pytest

from metaledger.domain import storage
from metaledger.projections.search.conditions import EVERYONE, Sql, Tables, key_set, predicate
from metaledger.projections.search.errors import InvalidQuery
from metaledger.projections.search.query import QueryTranslator
from metaledger.projections.search.sqlite import TABLES

SQLITE = QueryTranslator(storage.SQLITE, TABLES)
POSTGRES_TABLES = Tables("public.search_users", "public.search_metadata", "public.search_counts")
POSTGRES = QueryTranslator(storage.POSTGRES, POSTGRES_TABLES)


def sql(q: str, translator: QueryTranslator = SQLITE) -> Sql:
    """The query as a condition on a users row."""
    return predicate(translator.translate(q), translator.tables)


def keys(q: str) -> Sql:
    """The query as the set of the matching users' keys."""
    return key_set(SQLITE.translate(q), TABLES)


@pytest.mark.parametrize(
    "value", ["'; DROP TABLE search_users; --", "x' OR '1'='1", "%s)--", "?); --", "\\", "é€😀"]
)
def test_a_value_never_enters_the_sql_text(value: str) -> None:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    condition = sql(f'app_metadata.note:"{escaped}" OR name:"{escaped}"')
    assert (value in condition.text, value in condition.params) == (False, True)


def test_a_field_name_never_enters_the_sql_text() -> None:
    condition = sql("user_metadata.x';DROP--:y")
    assert ("';DROP" in condition.text, "user_metadata.x';DROP--" in condition.params) == (
        False,
        True,
    )


def test_a_case_insensitive_field_compares_lowercased_values() -> None:
    assert sql("email:Jane@X.COM") == Sql("u.email = ?", ("jane@x.com",))


def test_a_case_sensitive_field_compares_the_value_as_typed() -> None:
    assert sql("username:Jane") == Sql("u.username = ?", ("Jane",))


def test_a_prefix_wildcard_is_an_index_range() -> None:
    assert sql("user_id:auth0*") == Sql("(u.user_id >= ?) AND (u.user_id < ?)", ("auth0", "auth1"))


def test_a_pattern_checks_the_whole_value_within_the_prefix_range() -> None:
    assert sql("name:ja*doe") == Sql(
        "(u.name >= ?) AND (u.name < ?) AND (u.name GLOB ?)", ("ja", "jb", "ja*doe")
    )


def test_glob_special_characters_in_a_pattern_are_literal() -> None:
    assert storage.SQLITE.pattern(("a[b", "c?d")) == "a[[]b*c[?]d"


def test_like_special_characters_in_a_pattern_are_literal() -> None:
    assert storage.POSTGRES.pattern(("50%", "a_b")) == "50\\%%a\\_b"


def test_postgres_uses_its_markers_and_like() -> None:
    assert sql("name:*usa", POSTGRES) == Sql("u.name LIKE %s", ("%usa",))


def test_metadata_is_a_subquery_on_path_and_value() -> None:
    assert sql("app_metadata.plan:pro") == Sql(
        "u.key IN (SELECT m.key FROM search_metadata m WHERE (m.path = ?) AND (m.text = ?))",
        ("app_metadata.plan", "pro"),
    )


def test_a_number_in_metadata_also_matches_the_numeric_value() -> None:
    assert sql("app_metadata.seats:25").params == (
        "app_metadata.seats",
        "25",
        "app_metadata.seats",
        25.0,
    )


def test_not_also_holds_where_the_field_is_missing() -> None:
    assert sql("NOT username:bob").text == "(u.username = ?) IS NOT TRUE"


def test_no_query_matches_everyone() -> None:
    assert (SQLITE.translate(""), SQLITE.translate("   ")) == (EVERYONE, EVERYONE)


def test_an_exclusive_partial_date_bound_skips_its_whole_period() -> None:
    assert sql("created_at:{2017-12 TO *]") == Sql("u.created_at > ?", ("2017-12~",))


def test_a_date_term_is_its_whole_period() -> None:
    assert sql("last_login:2017-12") == Sql(
        "(u.last_login >= ?) AND (u.last_login <= ?)", ("2017-12", "2017-12~")
    )


def test_the_clause_count_is_bounded() -> None:
    with pytest.raises(InvalidQuery, match="more than 64 terms"):
        sql(" ".join(f"n{i}" for i in range(65)))


def test_the_nesting_depth_is_bounded() -> None:
    with pytest.raises(InvalidQuery, match="deeper than 32"):
        sql("(" * 33 + "x" + ")" * 33)


def test_a_parse_error_says_where() -> None:
    with pytest.raises(InvalidQuery, match="unexpected '\\]' at position 10"):
        sql("name:[a TO]")


def test_and_of_metadata_is_an_intersection_of_key_sets() -> None:
    assert keys("app_metadata.plan:pro AND app_metadata.roles:admin") == Sql(
        "SELECT m.key FROM search_metadata m WHERE (m.path = ?) AND (m.text = ?) INTERSECT "
        "SELECT m.key FROM search_metadata m WHERE (m.path = ?) AND (m.text = ?)",
        ("app_metadata.plan", "pro", "app_metadata.roles", "admin"),
    )


def test_not_is_everyone_except_a_key_set() -> None:
    assert keys("NOT app_metadata.plan:pro").text == (
        "SELECT key FROM search_users EXCEPT "
        "SELECT m.key FROM search_metadata m WHERE (m.path = ?) AND (m.text = ?)"
    )


def test_a_nested_compound_is_a_subquery() -> None:
    assert (
        keys("app_metadata.plan:pro AND (app_metadata.a:1 OR app_metadata.b:x)").text.count(
            "SELECT key FROM (SELECT DISTINCT m.key"
        )
        == 1
    )


def test_conditions_on_the_row_alone_stay_one_condition() -> None:
    assert keys("email:a@x.com OR nickname:a") == Sql(
        "SELECT u.key FROM search_users u WHERE (u.email = ?) OR (u.nickname = ?)",
        ("a@x.com", "a"),
    )


def test_a_correlated_predicate_tests_metadata_entry_by_entry() -> None:
    node = SQLITE.translate("app_metadata.plan:pro")
    assert predicate(node, TABLES, correlated=True).text == (
        "EXISTS (SELECT 1 FROM search_metadata m WHERE m.key = u.key AND "
        "((m.path = ?) AND (m.text = ?)))"
    )
