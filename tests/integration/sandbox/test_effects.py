"""Limits on what one login's code may do to the store, on both stores."""

from __future__ import annotations

import logging

import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.sandbox.pipeline import MAX_EFFECTS, TOO_MANY_EFFECTS, CodeRefused
from tests.integration.sandbox.test_rule_templates import log_in, user_with, versions, with_rule


def test_a_loop_of_writes_is_cut_off_after_the_effects_limit(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        """function (user, context, callback) {
  var writes = [];
  for (var n = 0; n < 1000; n++) {
    writes.push(auth0.users.updateUserMetadata(user.user_id, {n: n}));
  }
  Promise.all(writes).then(function () { callback(null, user, context); }, callback);
}""",
    )
    before = versions(container, user)
    with pytest.raises(CodeRefused) as refused:
        log_in(container, user)
    assert refused.value.message == f'rule "template": {TOO_MANY_EFFECTS}'
    assert versions(container, user) == before + MAX_EFFECTS


def test_console_log_reaches_the_service_log_at_debug(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        "function (user, context, callback) { console.log('hello', user.email);"
        " callback(null, user, context); }",
    )
    with caplog.at_level(logging.DEBUG, logger="metaledger.sandbox"):
        log_in(container, user)
    assert "tenant code (request req-1): hello jane@example.com" in caplog.messages
