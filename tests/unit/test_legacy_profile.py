"""What a custom-database script's profile becomes: `metadata` is app_metadata, the newer
templates' `app_metadata` is read too, and both with different contents is refused."""

from __future__ import annotations

import pytest

from metaledger.api.custom_databases import ScriptFailed, legacy_profile


def test_metadata_becomes_app_metadata() -> None:
    profile = legacy_profile({"email": "a@example.com", "metadata": {"plan": "gold"}})
    assert profile.app_metadata == {"plan": "gold"}


def test_app_metadata_is_read_under_its_own_name_too() -> None:
    profile = legacy_profile({"email": "a@example.com", "app_metadata": {"plan": "gold"}})
    assert profile.app_metadata == {"plan": "gold"}


def test_both_names_with_the_same_contents_are_one_bucket() -> None:
    same = {"plan": "gold"}
    profile = legacy_profile({"email": "a@example.com", "metadata": same, "app_metadata": same})
    assert profile.app_metadata == same


def test_both_names_with_different_contents_are_refused() -> None:
    with pytest.raises(ScriptFailed, match="both metadata and app_metadata"):
        legacy_profile({"email": "a@example.com", "metadata": {"a": 1}, "app_metadata": {"a": 2}})


def test_user_metadata_keeps_its_name() -> None:
    profile = legacy_profile({"email": "a@example.com", "user_metadata": {"theme": "dark"}})
    assert (profile.user_metadata, profile.app_metadata) == ({"theme": "dark"}, {})


def test_the_email_is_lowercased_as_logins_look_it_up() -> None:
    assert legacy_profile({"email": " Ada@Example.COM "}).email == "ada@example.com"


@pytest.mark.parametrize(
    "value",
    [
        "a string",
        {"nickname": "no email"},
        {"email": "a@example.com", "user_metadata": ["not", "an", "object"]},
    ],
    ids=["not-an-object", "no-email", "bucket-not-an-object"],
)
def test_a_value_that_is_not_a_profile_is_refused(value: object) -> None:
    with pytest.raises(ScriptFailed):
        legacy_profile(value)


def test_only_profile_attributes_carry_over() -> None:
    profile = legacy_profile(
        {"email": "a@example.com", "nickname": "ada", "user_id": "7", "password": "x"}
    )
    assert profile.profile == {"nickname": "ada"}
