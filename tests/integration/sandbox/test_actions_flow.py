"""The post-login Actions flow in the login pipeline, on both stores: aggregated metadata written
once per bucket even when the flow denies or fails, a deny stopping later Actions, each Action
with its own copy of `event`, and Actions after every Rule."""

from __future__ import annotations

from typing import Any

import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.code_store import ACTION, BINDINGS
from metaledger.api.sandbox.pipeline import POST_LOGIN, CodeRefused
from metaledger.domain.history import HistoryFilter, UserHistory
from tests.integration.sandbox.test_rule_templates import log_in, user_with, versions, with_rule


def bind(container: Container, *codes: str) -> list[str]:
    """Deployed Actions with `codes`, bound to post-login in that order; their ids."""
    ids = []
    for number, code in enumerate(codes):
        action_id = f"act_{number}"
        action: dict[str, Any] = {
            "id": action_id,
            "name": f"action {number}",
            "deployed_version": {"code": code, "secrets": {}},
        }
        container.code.add(ACTION, action_id, action["name"], 0, action)
        ids.append(action_id)
    container.code.put(
        BINDINGS, POST_LOGIN, POST_LOGIN, 0, [{"action_id": action_id} for action_id in ids]
    )
    return ids


def last_events(container: Container, user_id: str, count: int) -> list[tuple[str, Any]]:
    entries = UserHistory(container.profiles).page(user_id, HistoryFilter(), 0, count).entries
    return [(e.event, (e.actor or {}).get("id")) for e in entries]


def test_a_deny_keeps_the_metadata_set_before_it_and_stops_later_actions(
    container: Container,
) -> None:
    user = user_with(container, "jane@example.com")
    first, _ = bind(
        container,
        """exports.onExecutePostLogin = async (event, api) => {
  api.user.setAppMetadata('flagged', true);
  api.access.deny('fraud_suspected', 'Your account is under review.');
};""",
        """exports.onExecutePostLogin = async (event, api) => {
  api.user.setUserMetadata('second_ran', true);
};""",
    )
    with pytest.raises(CodeRefused) as refused:
        log_in(container, user)
    assert refused.value.denied
    assert refused.value.message == "Your account is under review."
    stored = container.profiles.get_user(user.user_id)
    assert (stored.app_metadata, stored.user_metadata) == ({"flagged": True}, {})
    assert last_events(container, user.user_id, 1) == [("AppMetadataPatched", first)]


def test_an_action_that_throws_fails_the_login_and_keeps_earlier_settings(
    container: Container,
) -> None:
    user = user_with(container, "jane@example.com")
    bind(
        container,
        """exports.onExecutePostLogin = async (event, api) => {
  api.user.setUserMetadata('seen', true);
  throw new Error('upstream down');
};""",
    )
    with pytest.raises(CodeRefused) as refused:
        log_in(container, user)
    assert not refused.value.denied
    assert refused.value.message == 'action "action 0": upstream down'
    assert container.profiles.get_user(user.user_id).user_metadata == {"seen": True}


def test_settings_of_several_actions_are_one_event_per_bucket(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    first, second = bind(
        container,
        """exports.onExecutePostLogin = async (event, api) => {
  api.user.setUserMetadata('a', 1).setAppMetadata('plan', 'pro');
};""",
        """exports.onExecutePostLogin = async (event, api) => {
  api.user.setUserMetadata('b', 2);
  api.user.setUserMetadata('a', null);
};""",
    )
    before = versions(container, user)
    log_in(container, user)
    stored = container.profiles.get_user(user.user_id)
    assert (stored.user_metadata, stored.app_metadata) == ({"b": 2}, {"plan": "pro"})
    assert versions(container, user) == before + 2
    writers = f"{first},{second}"
    assert sorted(last_events(container, user.user_id, 2)) == [
        ("AppMetadataPatched", writers),
        ("UserMetadataPatched", writers),
    ]


def test_each_action_gets_its_own_copy_of_the_event(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    bind(
        container,
        """exports.onExecutePostLogin = async (event, api) => {
  event.user.email = 'changed@example.com';
};""",
        """exports.onExecutePostLogin = async (event, api) => {
  api.idToken.setCustomClaim('https://example.com/email', event.user.email);
};""",
    )
    assert log_in(container, user).id_token == {"https://example.com/email": "jane@example.com"}


def test_actions_run_after_every_rule(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        """function (user, context, callback) {
  context.idToken['https://example.com/last'] = 'rule';
  callback(null, user, context);
}""",
    )
    bind(
        container,
        """exports.onExecutePostLogin = async (event, api) => {
  api.idToken.setCustomClaim('https://example.com/last', 'action');
};""",
    )
    assert log_in(container, user).id_token == {"https://example.com/last": "action"}
