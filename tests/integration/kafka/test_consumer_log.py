"""`metaledger consume entitlements` says what each event did, one line an event."""

from __future__ import annotations

import logging

import pytest

from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import create, patch
from tests.integration.kafka.test_consumers import Recorder, consuming


@pytest.mark.parametrize("database_url", [None])
def test_each_handled_event_leaves_a_line_saying_what_it_granted_or_revoked(
    stream_settings: Settings,
    profiles: UserProfiles,
    relay: Relay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="metaledger.consumer.entitlements")
    user_id = create(profiles, "said@example.com", app_metadata={"roles": ["a"]})
    patch(profiles, user_id, app_metadata={"plan": "pro", "roles": ["b"]})
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(2)

    lines = [r.getMessage() for r in caplog.records if r.name == "metaledger.consumer.entitlements"]
    assert [line.split(" (event ")[0] for line in lines] == [
        f"{user_id}: granted role a",
        f"{user_id}: granted role b, revoked role a, granted plan pro",
    ]
