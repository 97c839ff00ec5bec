"""Claims about a user: standard ones by scope, custom ones copied from metadata."""

from __future__ import annotations

import pytest

from metaledger.api.auth.claims import ClaimsConfigError, claim_mapping, parse_claims, user_claims
from metaledger.domain.user import User

HOBBY = "https://example.com/hobby"
PLAN = "https://example.com/plan"


def user() -> User:
    return User(
        user_id="auth0|abc",
        connection="Username-Password-Authentication",
        profile={
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada",
            "username": "ada",
        },
        user_metadata={"hobby": "engines", "color": "teal"},
        app_metadata={"plan": "pro"},
        actor={"kind": "client", "id": "admin"},
    )


def test_sub_alone_without_profile_or_email_scopes() -> None:
    assert user_claims(user(), frozenset({"openid"}), ()) == {"sub": "auth0|abc"}


def test_email_scope_gives_email_and_its_verification() -> None:
    claims = user_claims(user(), frozenset({"openid", "email"}), ())
    assert (claims["email"], claims["email_verified"]) == ("ada@example.com", True)
    assert "name" not in claims


def test_profile_scope_gives_profile_claims() -> None:
    claims = user_claims(user(), frozenset({"openid", "profile"}), ())
    assert claims["name"] == "Ada"
    assert claims["preferred_username"] == "ada"
    assert claims["updated_at"].endswith("Z")
    assert "email" not in claims


def test_configured_claims_copy_metadata_keys() -> None:
    mappings = parse_claims(f'{{"{HOBBY}": "user_metadata.hobby", "{PLAN}": "app_metadata.plan"}}')
    claims = user_claims(user(), frozenset({"openid"}), mappings)
    assert (claims[HOBBY], claims[PLAN]) == ("engines", "pro")


def test_a_claim_can_copy_a_whole_bucket() -> None:
    claims = user_claims(user(), frozenset(), (claim_mapping(HOBBY, "user_metadata"),))
    assert claims[HOBBY] == {"hobby": "engines", "color": "teal"}


def test_a_missing_metadata_key_gives_no_claim() -> None:
    claims = user_claims(user(), frozenset(), (claim_mapping(HOBBY, "user_metadata.pet"),))
    assert HOBBY not in claims


def test_a_claim_without_a_namespace_carries_the_whole_bucket() -> None:
    mappings = parse_claims('{"user_metadata": "user_metadata", "plan": "app_metadata.plan"}')
    claims = user_claims(user(), frozenset({"openid"}), mappings)
    assert claims["user_metadata"] == {"hobby": "engines", "color": "teal"}
    assert claims["plan"] == "pro"


def test_no_configuration_means_no_custom_claims() -> None:
    assert parse_claims(None) == ()
    assert parse_claims("") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('["user_metadata"]', "JSON object"),
        ('{"sub": "user_metadata.id"}', "'sub' is reserved by OpenID Connect"),
        ('{"nonce": "user_metadata"}', "'nonce' is reserved by OpenID Connect"),
        ('{"sid": "app_metadata"}', "'sid' is reserved by OpenID Connect"),
        ('{" ": "app_metadata"}', "cannot be empty"),
        (f'{{"{HOBBY}": 3}}', "must be a string"),
        (f'{{"{HOBBY}": "profile.name"}}', "user_metadata[.key]"),
        (f'{{"{HOBBY}": "user_metadata."}}', "user_metadata[.key]"),
        (f'{{"{HOBBY}": "user_metadata.a.b"}}', "user_metadata[.key]"),
    ],
)
def test_unusable_claim_configuration_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ClaimsConfigError, match=problem.replace("[", r"\[").replace(".", r"\.")):
        parse_claims(text)
