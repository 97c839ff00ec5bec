"""The entitlements consumer over an erasure: the user's roles and plans, and its history of
them, leave the consumer's database without a trace in its files or row versions."""

from __future__ import annotations

from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import ACTOR, create, patch
from tests.integration.kafka.test_consumers import Recorder, consuming, entitlements_of
from tests.support.at_rest import everything_stored, found

GRANTED = [b"zqx-role-auditor", b"zqx-role-treasurer", b"zqx-plan-platinum", b"zqx-plan-gold"]


def test_an_erased_users_entitlements_and_their_history_leave_no_trace(
    stream_settings: Settings, profiles: UserProfiles, relay: Relay
) -> None:
    user_id = create(
        profiles,
        "zqx.granted@example.com",
        app_metadata={"plan": "zqx-plan-platinum", "roles": ["zqx-role-auditor"]},
    )
    patch(
        profiles, user_id, app_metadata={"plan": "zqx-plan-gold", "roles": ["zqx-role-treasurer"]}
    )
    relay.catch_up()
    recorder = Recorder()

    with consuming(stream_settings, EntitlementsHandler(), recorder):
        recorder.wait_for(2)
        assert found(everything_stored(stream_settings), GRANTED)  # the consumer kept them
        profiles.delete_user(user_id, ACTOR, erase=True)
        relay.catch_up()
        recorder.wait_for(3)
        assert found(everything_stored(stream_settings), GRANTED) == {}  # still running

    assert found(everything_stored(stream_settings), GRANTED) == {}  # stopped
    assert entitlements_of(stream_settings, user_id) == (None, [])
