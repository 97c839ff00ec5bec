"""The Rules gallery templates (restated in `templates.py`) run unchanged in the login pipeline,
on both stores, with the effects their upstream tests expect: metadata written as events of the
rule, claims in the tokens, and denials."""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.code_store import RULE
from metaledger.api.sandbox.pipeline import Claims, CodeRefused, Login
from metaledger.domain.actor import SYSTEM
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserUpdate
from metaledger.domain.user import User
from tests.integration.sandbox import templates

LOGIN = Login(
    client_id="web-app",
    client_name="web",
    connection=DEFAULT_CONNECTION,
    ip="203.0.113.9",
    user_agent="tests",
    hostname="metaledger.test",
    request_id="req-1",
)


def user_with(container: Container, email: str, **profile: Any) -> User:
    new = NewUser(connection=DEFAULT_CONNECTION, profile={"email": email, **profile})
    return container.profiles.create_user(new, SYSTEM).user


def with_rule(container: Container, script: str) -> str:
    container.code.add(RULE, "rul_t", "template", 1, _rule(script))
    return "rul_t"


def _rule(script: str) -> dict[str, Any]:
    return {"id": "rul_t", "name": "template", "script": script, "order": 1, "enabled": True}


def log_in(container: Container, user: User) -> Claims:
    return container.pipeline.post_login(container.profiles.get_user(user.user_id), LOGIN)


def versions(container: Container, user: User) -> int:
    return container.profiles.get_user(user.user_id).version


def test_add_persistence_attribute_sets_a_default_color_and_a_claim(
    container: Container,
) -> None:
    user = user_with(container, "jane@example.com")
    rule_id = with_rule(container, templates.ADD_PERSISTENCE_ATTRIBUTE)
    claims = log_in(container, user)
    assert claims.id_token == {"https://example.com/favorite_color": "blue"}
    assert container.profiles.get_user(user.user_id).user_metadata == {"color": "blue"}
    (latest,) = UserHistory(container.profiles).page(user.user_id, HistoryFilter(), 0, 1).entries
    assert latest.event == "UserMetadataPatched"
    assert latest.actor is not None
    assert (latest.actor["kind"], latest.actor["id"], latest.actor["request_id"]) == (
        "rule",
        rule_id,
        "req-1",
    )


def test_add_persistence_attribute_keeps_a_color_already_chosen(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    container.profiles.update_user(
        user.user_id, UserUpdate(buckets={"user_metadata": {"color": "red"}}), SYSTEM
    )
    with_rule(container, templates.ADD_PERSISTENCE_ATTRIBUTE)
    assert log_in(container, user).id_token == {"https://example.com/favorite_color": "red"}


def test_roles_creation_gives_a_verified_example_com_user_the_admin_role(
    container: Container,
) -> None:
    user = user_with(container, "boss@example.com", email_verified=True)
    with_rule(container, templates.ROLES_CREATION)
    assert log_in(container, user).id_token == {"https://example.com/roles": ["admin"]}
    assert container.profiles.get_user(user.user_id).app_metadata == {"roles": ["admin"]}


def test_roles_creation_gives_other_domains_the_user_role(container: Container) -> None:
    user = user_with(container, "someone@elsewhere.org", email_verified=True)
    with_rule(container, templates.ROLES_CREATION)
    assert log_in(container, user).id_token == {"https://example.com/roles": ["user"]}


def test_roles_creation_leaves_an_unverified_user_alone(container: Container) -> None:
    user = user_with(container, "boss@example.com")
    with_rule(container, templates.ROLES_CREATION)
    before = versions(container, user)
    assert log_in(container, user).id_token == {}
    assert versions(container, user) == before


def test_username_attribute_copies_the_username_once(container: Container) -> None:
    user = user_with(container, "jane@example.com", username="jane")
    with_rule(container, templates.USERNAME_ATTRIBUTE)
    log_in(container, user)
    assert container.profiles.get_user(user.user_id).app_metadata == {"username": "jane"}
    after_first = versions(container, user)
    log_in(container, user)
    assert versions(container, user) == after_first


def test_track_consent_records_consent_once(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(container, templates.TRACK_CONSENT)
    log_in(container, user)
    consent = container.profiles.get_user(user.user_id).user_metadata
    assert consent["consentGiven"] is True
    assert isinstance(consent["consentTimestamp"], int)
    after_first = versions(container, user)
    log_in(container, user)
    assert versions(container, user) == after_first


def test_email_verified_denies_an_unverified_user(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(container, templates.EMAIL_VERIFIED)
    with pytest.raises(CodeRefused) as refused:
        log_in(container, user)
    assert refused.value.denied
    assert refused.value.message == "Please verify your email before logging in."


def test_email_verified_lets_a_verified_user_in(container: Container) -> None:
    user = user_with(container, "jane@example.com", email_verified=True)
    with_rule(container, templates.EMAIL_VERIFIED)
    assert log_in(container, user) == Claims(ran=True)


def test_add_email_to_access_token_adds_the_claim(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(container, templates.ADD_EMAIL_TO_ACCESS_TOKEN)
    claims = log_in(container, user)
    assert claims.access_token == {"https://example.com/email": "jane@example.com"}
