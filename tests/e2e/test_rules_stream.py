"""The metadata a rule and an Action write during a login reach the change stream (a real
broker) as events carrying their actors."""

from __future__ import annotations

import pytest
from auth0.management import Auth0

from metaledger.api.settings import Settings
from tests.e2e.test_rules_sdk import PERSIST_COLOR, POST_LOGIN_ACTION, log_in, with_web_app
from tests.support.kafka_broker import KafkaBroker
from tests.support.server import RunningServer
from tests.support.stream import at_least, events_of, publishing, read_topic
from tests.support.users import PASSWORD

CONNECTION = "Username-Password-Authentication"
# Created, logged in, the rule's write, the Action's two writes (one per bucket).
EVENTS = 5


@pytest.fixture
def settings(settings: Settings, kafka_broker: KafkaBroker) -> Settings:
    return publishing(with_web_app(settings), kafka_broker)


@pytest.mark.parametrize("database_url", [None])
def test_rule_and_action_writes_are_published_with_their_actors(
    server: RunningServer, token: str, settings: Settings
) -> None:
    sdk = Auth0(base_url=f"{server.base_url}/api/v2", token=token, max_retries=0)
    sdk.users.create(connection=CONNECTION, email="rules@example.com", password=PASSWORD)
    rule = sdk.rules.create(name="persist color", script=PERSIST_COLOR)
    action = sdk.actions.create(
        name="tiering",
        supported_triggers=[{"id": "post-login", "version": "v3"}],
        code=POST_LOGIN_ACTION,
        secrets=[{"name": "TIER", "value": "gold"}],
        deploy=True,
    )
    sdk.actions.triggers.bindings.update_many(
        "post-login", bindings=[{"ref": {"type": "action_id", "value": action.id}}]
    )
    log_in(server)
    assert settings.kafka_bootstrap_servers is not None
    events = events_of(
        read_topic(settings.kafka_bootstrap_servers, settings.kafka_topic, at_least(EVENTS))
    )
    written = [
        (event["metaledgerevent"], event["data"]["actor"]["kind"], event["data"]["actor"]["id"])
        for event in events
        if event["data"]["actor"]["kind"] in ("rule", "action")
    ]
    assert written[0] == ("UserMetadataPatched", "rule", rule.id)
    assert sorted(written[1:]) == [
        ("AppMetadataPatched", "action", action.id),
        ("UserMetadataPatched", "action", action.id),
    ]
