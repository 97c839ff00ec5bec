"""Auth0's user-search syntax over a fixed dataset, on SQLite and on PostgreSQL.

Each case is one behaviour: the query, and exactly the users it must find.
"""

from __future__ import annotations

import pytest

from metaledger.api.bootstrap import Container
from metaledger.projections.search.errors import InvalidQuery
from tests.integration.search.conftest import found
from tests.integration.search.dataset import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    EVERYONE,
    FRANK,
    GRACE,
    JANE,
    JOHN,
    dataset,
)

__all__ = ["dataset"]

MATCHES = [
    # Field values and phrases: the whole value, never a word of it.
    pytest.param('email:"jane.doe@example.com"', {JANE}, id="email_matches_the_whole_address"),
    pytest.param("email:JANE.DOE@EXAMPLE.COM", {JANE}, id="email_ignores_case"),
    pytest.param('name:"Jane Doe"', {JANE}, id="name_phrase_matches_the_whole_name"),
    pytest.param('name:"jANE dOE"', {JANE}, id="name_ignores_case"),
    pytest.param("name:jane", set(), id="a_word_of_a_name_is_not_a_match"),
    pytest.param(r"name:John\ Smith", {JOHN}, id="an_escaped_space_joins_a_value"),
    pytest.param("given_name:JANE", {JANE}, id="given_name_ignores_case"),
    pytest.param("family_name:SMITH", {JOHN}, id="family_name_ignores_case"),
    pytest.param("nickname:JOHNNY", {JOHN}, id="nickname_ignores_case"),
    pytest.param("username:bobby", {BOB}, id="username_matches"),
    pytest.param("username:BOBBY", set(), id="username_respects_case"),
    pytest.param('user_id:"auth0|jane"', {JANE}, id="user_id_matches"),
    pytest.param('user_id:"AUTH0|jane"', set(), id="user_id_respects_case"),
    pytest.param(
        'identities.connection:"Other-Connection"',
        {FRANK},
        id="connection_is_found_under_identities",
    ),
    pytest.param('phone_number:"+15550002222"', {CAROL}, id="phone_number_matches_quoted"),
    pytest.param("email.domain:corp.example.com", {ALICE}, id="email_domain_matches"),
    pytest.param("blocked:true", {ALICE}, id="blocked_true_finds_blocked_users"),
    pytest.param("email_verified:true", {JANE}, id="email_verified_true"),
    pytest.param("logins_count:2", {GRACE}, id="logins_count_matches_a_number"),
    pytest.param('last_ip:"203.0.113.7"', {GRACE}, id="last_ip_matches"),
    # Wildcards: a prefix, or at least three literal characters after a leading one.
    pytest.param("name:j*", {JANE, JOHN}, id="prefix_wildcard"),
    pytest.param("email:JANE*", {JANE}, id="prefix_wildcard_ignores_case_on_email"),
    pytest.param("name:*usa", {DAVE}, id="suffix_wildcard"),
    pytest.param("name:*ohn*", {JOHN}, id="infix_wildcard"),
    pytest.param("name:jane*doe", {JANE}, id="wildcard_inside_a_value"),
    pytest.param("user_id:auth0|j*", {JANE, JOHN}, id="prefix_wildcard_on_user_id"),
    pytest.param(r"nickname:e\*rin", {ERIN}, id="escaped_star_is_a_literal_star"),
    pytest.param("username:*", {BOB}, id="star_alone_means_the_field_exists"),
    # Ranges, inclusive and exclusive, open ends, partial dates.
    pytest.param("logins_count:[1 TO 2]", {GRACE}, id="inclusive_range_on_logins_count"),
    pytest.param("logins_count:[0 TO 2}", EVERYONE - {GRACE}, id="exclusive_upper_bound"),
    pytest.param("logins_count:{0 TO *]", {GRACE}, id="exclusive_lower_bound"),
    pytest.param("logins_count:>1", {GRACE}, id="greater_than_shorthand"),
    pytest.param("created_at:[2000-01 TO *]", EVERYONE, id="open_range_on_dates"),
    pytest.param("created_at:[* TO 2000-12]", set(), id="partial_date_upper_bound"),
    pytest.param(
        "app_metadata.trial_ends:[* TO 2024-03]", {JANE}, id="partial_date_takes_its_whole_period"
    ),
    pytest.param(
        "app_metadata.trial_ends:{2024-03 TO *]",
        set(),
        id="exclusive_partial_date_skips_its_period",
    ),
    pytest.param("app_metadata.seats:[10 TO 100]", {JANE}, id="numeric_range_on_metadata"),
    pytest.param("app_metadata.seats:[100 TO *]", {ALICE}, id="open_numeric_range_on_metadata"),
    pytest.param("app_metadata.plan:[e TO g]", {ALICE, JOHN}, id="text_range_on_metadata"),
    pytest.param("name:[a TO c}", {ALICE, BOB}, id="text_range_on_a_root_field"),
    # Metadata by dotted path; arrays are skipped; values respect case.
    pytest.param('app_metadata.plan:"pro"', {JANE, BOB}, id="metadata_value"),
    pytest.param("app_metadata.plan:PRO", set(), id="metadata_respects_case"),
    pytest.param("user_metadata.hobby:surfing", {JOHN}, id="user_metadata_respects_case"),
    pytest.param("app_metadata.roles:admin", {JANE, ALICE}, id="value_in_an_array"),
    pytest.param(
        'user_metadata.addresses.city:"Paris"', {JANE}, id="object_inside_an_array_skips_the_array"
    ),
    pytest.param("app_metadata.subscription.plan:gold", {ALICE}, id="nested_object_value"),
    pytest.param("user_metadata.display.fontSize:13", {JANE}, id="nested_number"),
    pytest.param("app_metadata.seats:25", {JANE, BOB}, id="a_number_finds_numbers_and_strings"),
    pytest.param("app_metadata.score:4.5", {JANE}, id="a_decimal_number"),
    pytest.param("app_metadata.active:true", {JANE}, id="a_boolean"),
    pytest.param("user_metadata.addresses.city:Lo*", {JOHN}, id="wildcard_on_metadata"),
    pytest.param("_exists_:app_metadata.subscription", {ALICE}, id="exists_on_a_metadata_object"),
    pytest.param(
        "_exists_:user_metadata.addresses", {JANE, JOHN}, id="exists_on_an_array_of_objects"
    ),
    pytest.param("_exists_:user_metadata", {JANE, JOHN}, id="exists_on_a_bucket"),
    pytest.param("_exists_:last_login", {GRACE}, id="exists_on_a_root_field"),
    # Boolean logic.
    pytest.param("app_metadata.plan:pro AND app_metadata.roles:admin", {JANE}, id="and"),
    pytest.param(
        "app_metadata.plan:pro OR app_metadata.plan:enterprise", {JANE, BOB, ALICE}, id="or"
    ),
    pytest.param("app_metadata.plan:pro AND NOT username:bobby", {JANE}, id="and_not"),
    pytest.param(
        "NOT app_metadata.plan:pro",
        EVERYONE - {JANE, BOB},
        id="not_includes_users_without_the_field",
    ),
    pytest.param(
        "(app_metadata.plan:free OR app_metadata.plan:enterprise) AND blocked:true",
        {ALICE},
        id="parentheses_group",
    ),
    pytest.param("app_metadata.plan:(free OR enterprise)", {JOHN, ALICE}, id="field_group"),
    pytest.param(
        'email:("jane.doe@example.com" OR "bob@example.com")',
        {JANE, BOB},
        id="field_group_of_phrases",
    ),
    pytest.param(
        "NOT _exists_:last_login OR logins_count:0",
        EVERYONE - {GRACE},
        id="auth0_never_logged_in_example",
    ),
    pytest.param(
        "+email.domain:example.com -app_metadata.plan:pro",
        {DAVE, ERIN, GRACE},
        id="must_and_must_not_prefixes",
    ),
    pytest.param(
        "app_metadata.plan:free app_metadata.plan:enterprise",
        {JOHN, ALICE},
        id="juxtaposed_terms_match_any",
    ),
    pytest.param("app_metadata.plan:free^2", {JOHN}, id="boost_changes_no_match"),
    # Terms without a field: the root text fields, never metadata.
    pytest.param("janed", {JANE}, id="bare_term_matches_a_root_field"),
    pytest.param("JANE", {JANE}, id="bare_term_ignores_case_on_names"),
    pytest.param("Surfing", set(), id="bare_term_never_matches_user_metadata"),
    pytest.param("gra*", {GRACE}, id="bare_wildcard"),
    pytest.param("*", EVERYONE, id="star_matches_everyone"),
    pytest.param("", EVERYONE, id="no_query_matches_everyone"),
    # Hostile values are values.
    pytest.param('name:"\'; DROP TABLE search_users; --"', set(), id="sql_in_a_value_is_a_value"),
    pytest.param('name:"Erin O\'Hara"', {ERIN}, id="quote_in_a_value"),
]

REFUSED = [
    pytest.param("name:*sa", "at least 3", id="short_suffix_wildcard"),
    pytest.param("name:*oh*", "at least 3", id="short_infix_wildcard"),
    pytest.param("name:j?ne", "'?' wildcard is not supported", id="question_mark_wildcard"),
    pytest.param("(name:jane", "unexpected end", id="unbalanced_parenthesis"),
    pytest.param("name:jane AND", "unexpected end", id="dangling_operator"),
    pytest.param('name:"unterminated', "position 5", id="illegal_character_says_where"),
    pytest.param("colour:blue", "'colour' is not searchable", id="unknown_field"),
    pytest.param("connection:x", "identities.connection", id="bare_connection_field_hints"),
    pytest.param("logins_count:many", "takes a number", id="number_field_with_text"),
    pytest.param("blocked:maybe", "true or false", id="boolean_field_with_text"),
    pytest.param("created_at:yesterday", "takes a date", id="date_field_with_text"),
    pytest.param("logins_count:1*", "Wildcards are not supported", id="wildcard_on_a_number"),
    pytest.param("name:jane~", "not supported", id="fuzzy_search"),
    pytest.param('"jane doe"~2', "not supported", id="proximity_search"),
    pytest.param("name:/ja.e/", "Regular expressions are not supported", id="regular_expression"),
    pytest.param("user_metadata:x", "Name a key", id="metadata_bucket_without_key"),
    pytest.param("[a TO b]", "needs a field", id="range_without_field"),
    pytest.param("name:(email:x)", "nested inside", id="field_inside_a_field"),
    pytest.param("name:[a* TO b]", "cannot hold wildcards", id="wildcard_in_a_range"),
    pytest.param("name:a\x00b", "NUL", id="nul_character"),
    pytest.param(
        " OR ".join(f"name:n{i}" for i in range(65)), "more than 64 terms", id="too_many_terms"
    ),
    pytest.param("(" * 40 + "name:x" + ")" * 40, "deeper than", id="too_deep"),
]


@pytest.mark.parametrize(("query", "expected"), MATCHES)
def test_query_finds_exactly(dataset: Container, query: str, expected: set[str]) -> None:
    assert found(dataset.search, query) == expected


@pytest.mark.parametrize(("query", "message"), REFUSED)
def test_query_is_refused_with_a_reason(dataset: Container, query: str, message: str) -> None:
    with pytest.raises(InvalidQuery, match=message):
        dataset.search.translator.translate(query)
