"""`metaledger rules check`: the rule-to-action report over the stored rules, on both stores."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.cli.main import parser
from metaledger.api.cli.rules import run
from metaledger.api.code_store import RULE
from metaledger.api.settings import Settings
from tests.integration.sandbox import templates

COUNTER = """function (user, context, callback) {
  global.logins = (global.logins || 0) + 1;
  context.idToken['https://example.com/client'] = context.clientID;
  callback(null, user, context);
}"""


def store(container: Container, rule_id: str, name: str, script: str, order: int) -> None:
    rule = {"id": rule_id, "name": name, "script": script, "order": order, "enabled": True}
    container.code.add(RULE, rule_id, name, order, rule)


def report(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run(settings, parser().parse_args(["rules", "check", *argv])) == 0
    return capsys.readouterr().out


def test_the_report_maps_each_rule_onto_an_action(
    container: Container, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store(container, "rul_1", "roles", templates.ROLES_CREATION, 1)
    store(container, "rul_2", "counter", COUNTER, 2)
    found: list[dict[str, Any]] = orjson.loads(report(settings, capsys, "--json"))
    assert [(rule["name"], rule["rewrite"]) for rule in found] == [
        ("roles", "direct"),
        ("counter", "redesign"),
    ]
    roles = {finding["rule"]: finding["action"] for finding in found[0]["findings"]}
    assert roles["auth0.users.updateAppMetadata(id, metadata)"].startswith(
        "api.user.setAppMetadata(key, value)"
    )
    assert roles["context.idToken[claim] = value"] == "api.idToken.setCustomClaim(claim, value)"
    counter = {finding["rule"]: finding for finding in found[1]["findings"]}
    assert counter["global (state kept between logins)"]["blocks"] is True
    assert counter["context.clientID"]["action"] == "event.client.client_id"
    assert counter["context.clientID"]["line"] == 3


def test_the_text_report_ends_with_a_summary(
    container: Container, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store(container, "rul_1", "deny unverified", templates.EMAIL_VERIFIED, 1)
    out = report(settings, capsys)
    assert "deny unverified (rul_1, order 1, enabled): direct" in out
    assert "callback(new UnauthorizedError(message)) -> api.access.deny(message)" in out
    assert out.rstrip().endswith("1 of 1 rules map directly onto a post-login Action.")
