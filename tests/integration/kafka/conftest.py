"""The change-stream suite: the application on the parametrized store, and a topic per test on
the session's broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from metaledger.api import stores
from metaledger.api.bootstrap import build_profiles, relay_config
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import DEFAULT_CONNECTION, NewUser, UserProfiles, UserUpdate
from metaledger.projections.relay.relay import Relay
from metaledger.projections.relay.service import build_relay
from tests.support.kafka_broker import KafkaBroker
from tests.support.stream import publishing

ACTOR = Actor(kind="client", id="stream-client", grant="client-credentials", request_id="req-1")


@pytest.fixture
def stream_settings(settings: Settings, kafka_broker: KafkaBroker) -> Settings:
    return publishing(settings, kafka_broker)


@pytest.fixture
def profiles(stream_settings: Settings) -> Iterator[UserProfiles]:
    app = build_profiles(stream_settings)
    yield app
    app.close()


@pytest.fixture
def relay(stream_settings: Settings, profiles: UserProfiles) -> Iterator[Relay]:
    config = relay_config(stream_settings)
    assert config is not None
    built = build_relay(config, profiles, stores.relay_position(stream_settings.store))
    built.publisher.ensure_topic()
    yield built
    built.publisher.close()
    built.position.close()


def create(profiles: UserProfiles, email: str, **fields: Any) -> str:
    written = profiles.create_user(
        NewUser(connection=DEFAULT_CONNECTION, profile={"email": email}, **fields), ACTOR
    )
    return written.user.user_id


def patch(profiles: UserProfiles, user_id: str, **buckets: dict[str, Any] | None) -> None:
    profiles.update_user(user_id, UserUpdate(buckets=dict(buckets)), ACTOR)
