"""What the relay puts on the topic: one CloudEvent per stored event, in the shape consumers of
Auth0 Event Streams expect, with our extensions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from auth0.management.types import (
    EventStreamCloudEventUserCreatedCloudEvent,
    EventStreamCloudEventUserDeletedCloudEvent,
    EventStreamCloudEventUserUpdatedCloudEvent,
)
from cloudevents.v1.kafka import KafkaMessage, from_structured

from metaledger.api import stores
from metaledger.api.bootstrap import relay_config
from metaledger.api.settings import Settings
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import UserProfiles, UserUpdate
from metaledger.projections.relay.relay import Relay
from metaledger.projections.relay.service import build_relay
from tests.integration.kafka.conftest import ACTOR, create, patch
from tests.support.stream import Message, at_least, events_of, read_topic

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "projections" / "relay" / "cloudevent.schema.json").read_text()
)
AUTH0_MODELS: dict[str, Any] = {
    "user.created": EventStreamCloudEventUserCreatedCloudEvent,
    "user.updated": EventStreamCloudEventUserUpdatedCloudEvent,
    "user.deleted": EventStreamCloudEventUserDeletedCloudEvent,
}


def published(settings: Settings, relay: Relay, count: int) -> list[Message]:
    relay.catch_up()
    assert settings.kafka_bootstrap_servers is not None
    return read_topic(settings.kafka_bootstrap_servers, settings.kafka_topic, at_least(count))


def every_kind_of_event(profiles: UserProfiles) -> str:
    user_id = create(
        profiles, "ada@example.com", user_metadata={"theme": "dark"}, app_metadata={"plan": "free"}
    )
    patch(profiles, user_id, user_metadata={"theme": "light", "lang": "en"})
    patch(profiles, user_id, app_metadata={"plan": "pro", "roles": ["admin"]})
    profiles.update_user(user_id, UserUpdate(profile={"given_name": "Ada"}), ACTOR)
    profiles.record_login(user_id, "203.0.113.9", "app-1", Actor(kind="user", id=user_id))
    profiles.delete_user(user_id, ACTOR)
    return user_id


def test_every_message_parses_with_the_official_auth0_event_stream_models(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    every_kind_of_event(profiles)

    events = events_of(published(stream_settings, relay, 6))

    assert [e["type"] for e in events] == ["user.created"] + ["user.updated"] * 4 + ["user.deleted"]
    for event in events:
        model = AUTH0_MODELS[event["type"]].model_validate(event)
        assert model.data.object.user_id == event["subject"]


def test_every_message_validates_against_the_published_json_schema(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    every_kind_of_event(profiles)

    events = events_of(published(stream_settings, relay, 6))

    assert len(events) == 6
    for event in events:
        jsonschema.validate(event, SCHEMA)


def test_every_message_reads_back_with_the_official_cloudevents_kafka_binding(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = every_kind_of_event(profiles)

    for message in published(stream_settings, relay, 6):
        if message.value is None:
            continue  # the tombstone of an erased user carries no event
        kafka = KafkaMessage(headers=dict(message.headers), key=message.key, value=message.value)
        event = from_structured(kafka)
        assert event["specversion"] == "1.0"
        assert event["subject"] == user_id
        assert event.data == message.event["data"]


def test_app_metadata_patch_carries_the_patch_the_changes_and_both_objects(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "bo@example.com", app_metadata={"plan": "free", "roles": ["a"]})
    patch(profiles, user_id, app_metadata={"plan": "pro", "roles": None})

    update = events_of(published(stream_settings, relay, 2))[1]

    assert update["metaledgerevent"] == "AppMetadataPatched"
    assert update["metaledgerversion"] == 2
    assert update["data"]["patch"] == {"app_metadata": {"plan": "pro", "roles": None}}
    assert update["data"]["changes"] == {
        "app_metadata.plan": {"old": "free", "new": "pro"},
        "app_metadata.roles": {"old": ["a"], "new": None},
    }
    assert update["data"]["previous_object"]["app_metadata"] == {"plan": "free", "roles": ["a"]}
    assert update["data"]["object"]["app_metadata"] == {"plan": "pro"}
    assert update["data"]["actor"]["id"] == ACTOR.id


def test_message_key_and_subject_are_the_user_id(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "cy@example.com")

    message = published(stream_settings, relay, 1)[0]

    assert message.key == user_id.encode()
    assert message.event["subject"] == user_id
    assert ("content-type", b"application/cloudevents+json") in message.headers


def test_password_change_is_published_redacted(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "dee@example.com")
    profiles.update_user(user_id, UserUpdate(profile={"password_hash": "$argon2id$x"}), ACTOR)

    messages = published(stream_settings, relay, 2)

    assert all(b"argon2id" not in (m.value or b"") for m in messages)
    assert events_of(messages)[1]["data"]["patch"] == {"password": "[redacted]"}


@pytest.mark.parametrize("database_url", [None])
def test_erased_user_gives_user_deleted_without_personal_data_then_a_tombstone(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "eve@example.com", user_metadata={"secret": "s3cr3t"})
    profiles.delete_user(user_id, ACTOR, erase=True)

    messages = published(stream_settings, relay, 3)

    deleted, tombstone = messages[-2], messages[-1]
    assert deleted.event["type"] == "user.deleted"
    assert deleted.event["data"]["erased"] is True
    assert set(deleted.event["data"]["object"]) == {
        "user_id",
        "created_at",
        "updated_at",
        "identities",
        "deleted_at",
    }
    assert tombstone.key == user_id.encode()
    assert tombstone.value is None
    assert all(b"eve@example.com" not in (m.value or b"") for m in messages[1:])


@pytest.mark.parametrize("database_url", [None])
def test_republished_events_keep_their_ids(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay, tmp_path: Path
) -> None:
    user_id = create(profiles, "fay@example.com")
    patch(profiles, user_id, user_metadata={"n": 1})
    first = [e["id"] for e in events_of(published(stream_settings, relay, 2))]

    # a relay with a position of its own starts again from the first event
    again_settings = stream_settings.replace(data_dir=tmp_path / "again")
    config = relay_config(again_settings)
    assert config is not None
    again = build_relay(config, profiles, stores.relay_position(again_settings.store))
    messages = published(stream_settings, again, 4)
    again.position.close()

    assert sorted(e["id"] for e in events_of(messages)) == sorted(first * 2)
