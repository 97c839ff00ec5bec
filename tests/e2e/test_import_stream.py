"""Imported users reach the change stream like any others: a real broker, the embedded relay."""

from __future__ import annotations

import httpx
import pytest

from metaledger.api.settings import Settings
from tests.support.jobs import connection_id_of, finished, import_users, json_file
from tests.support.kafka_broker import KafkaBroker
from tests.support.stream import at_least, publishing, read_topic


@pytest.fixture
def settings(settings: Settings, kafka_broker: KafkaBroker) -> Settings:
    """The server publishes: the relay runs beside the API, on a topic of this test's own."""
    return publishing(settings, kafka_broker)


def test_each_imported_user_is_published_with_the_import_as_its_actor(
    settings: Settings, http: httpx.Client
) -> None:
    users = [{"email": f"s{n}@example.com", "app_metadata": {"plan": "pro"}} for n in range(3)]
    job = finished(http, import_users(http, json_file(users), connection_id_of(http))["id"])
    assert settings.kafka_bootstrap_servers is not None

    messages = read_topic(settings.kafka_bootstrap_servers, settings.kafka_topic, at_least(3))

    events = [message.event for message in messages]
    assert sorted(event["data"]["object"]["email"] for event in events) == [
        "s0@example.com",
        "s1@example.com",
        "s2@example.com",
    ]
    assert {(e["type"], e["data"]["actor"]["kind"], e["data"]["actor"]["id"]) for e in events} == {
        ("user.created", "import", job["id"])
    }
