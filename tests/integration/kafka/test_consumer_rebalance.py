"""Three instances of the `entitlements` consumer in one consumer group, joining and leaving
while events arrive: the partitions move between them, redeliveries happen, and each event's
effect is applied exactly once (the inbox)."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest

from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import create
from tests.integration.kafka.test_consumers import Recorder, consuming, entitlements_of

USERS_PER_WAVE = 15
TIMEOUT_SECONDS = 120


def wave(profiles: UserProfiles, relay: Relay, name: str) -> dict[str, str]:
    """Users created with one role each, published; user id -> role."""
    roles = {}
    for index in range(USERS_PER_WAVE):
        role = f"{name}{index}"
        roles[create(profiles, f"{role}@example.com", app_metadata={"roles": [role]})] = role
    relay.catch_up()
    return roles


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_three_consumers_across_rebalances_apply_each_effect_exactly_once(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    roles = wave(profiles, relay, "first")
    recorders = [Recorder() for _ in range(3)]
    with ExitStack() as everyone:
        with ExitStack() as leaving:
            leaving.enter_context(consuming(stream_settings, EntitlementsHandler(), recorders[0]))
            recorders[0].wait_for(1)
            for recorder in recorders[1:]:  # two more join: the partitions are shared anew
                everyone.enter_context(consuming(stream_settings, EntitlementsHandler(), recorder))
            roles |= wave(profiles, relay, "second")
        # the first instance left: its partitions move to the other two
        roles |= wave(profiles, relay, "third")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while any(entitlements_of(stream_settings, user)[0] is None for user in roles):
            assert time.monotonic() < deadline, "not every user's entitlements arrived"
            time.sleep(0.2)
    for user, role in roles.items():
        _, grants = entitlements_of(stream_settings, user)
        assert [(grant.action, grant.value) for grant in grants] == [("granted", role)]
    assert sum(len(recorder.handled) for recorder in recorders) >= len(roles)
    assert sum(1 for recorder in recorders if recorder.handled) >= 2  # the work was shared
