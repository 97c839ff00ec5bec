"""The password policy: length and character classes, reported as Auth0 reports them."""

from __future__ import annotations

import pytest

from metaledger.api.auth.password_policy import PasswordPolicy


def test_a_password_with_length_and_three_classes_is_accepted() -> None:
    assert PasswordPolicy(min_length=8, min_character_classes=3).accepts("Abcdefg1")


def test_a_password_shorter_than_the_minimum_is_refused() -> None:
    assert not PasswordPolicy(min_length=8, min_character_classes=0).accepts("Abc!234")


def test_a_password_with_too_few_classes_is_refused() -> None:
    assert not PasswordPolicy(min_length=8, min_character_classes=3).accepts("abcdefgh1")


def test_spaces_and_punctuation_count_as_special_characters() -> None:
    policy = PasswordPolicy(min_length=8, min_character_classes=2)
    assert policy.accepts("correct horse")
    assert policy.accepts("correct-horse")


def test_non_ascii_letters_count_in_their_case() -> None:
    assert PasswordPolicy(min_length=4, min_character_classes=2).accepts("Éléphant")


def test_rules_say_which_classes_are_present() -> None:
    [length, classes] = PasswordPolicy(min_length=8, min_character_classes=3).rules("abc1")
    assert length == {
        "message": "At least %d characters in length",
        "format": [8],
        "code": "lengthAtLeast",
        "verified": False,
    }
    assert classes["format"] == [3, 4]
    assert {item["code"]: item["verified"] for item in classes["items"]} == {
        "lowerCase": True,
        "upperCase": False,
        "numbers": True,
        "specialCharacters": False,
    }
    assert classes["verified"] is False


def test_a_policy_without_classes_has_only_the_length_rule() -> None:
    policy = PasswordPolicy(min_length=12, min_character_classes=0)
    assert [rule["code"] for rule in policy.rules("x")] == ["lengthAtLeast"]
    assert policy.describe() == "* At least 12 characters in length"


@pytest.mark.parametrize(("length", "classes"), [(0, 3), (8, 5), (8, -1)])
def test_an_impossible_policy_is_refused(length: int, classes: int) -> None:
    with pytest.raises(ValueError, match="password policy"):
        PasswordPolicy(min_length=length, min_character_classes=classes)
