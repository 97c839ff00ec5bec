"""`metaledger tail --json` prints each event as the CloudEvent that is on the topic."""

from __future__ import annotations

import orjson
import pytest

from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import create, patch
from tests.support import processes
from tests.support.stream import at_least, read_topic


@pytest.mark.parametrize("database_url", [None])
def test_tail_json_prints_the_record_as_it_is_on_the_wire(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "wire@example.com", app_metadata={"plan": "free"})
    relay.catch_up()

    result = processes.run(
        stream_settings, "tail", "--from-beginning", "--user", user_id, "--limit", "1", "--json"
    )

    assert result.returncode == 0, result.stderr
    (printed,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    servers = stream_settings.kafka_bootstrap_servers or ""
    (record,) = read_topic(servers, stream_settings.kafka_topic, at_least(1))
    assert printed == record.event
    assert printed["specversion"] == "1.0"


@pytest.mark.parametrize("database_url", [None])
def test_tail_colours_the_old_value_red_and_the_new_green_when_asked(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(profiles, "colour@example.com", app_metadata={"plan": "free"})
    patch(profiles, user_id, app_metadata={"plan": "pro"})
    relay.catch_up()

    result = processes.run(
        stream_settings,
        "tail",
        "--from-beginning",
        "--user",
        user_id,
        "--limit",
        "2",
        "--color",
        "always",
    )

    assert result.returncode == 0, result.stderr
    assert '\033[31m"free"\033[0m → \033[32m"pro"\033[0m' in result.stdout
