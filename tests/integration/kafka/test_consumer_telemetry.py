"""A consumer built as `metaledger consume` builds it reports each effect and its lag: metrics
and one log line per handled event, against a real broker."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from metaledger.api.bootstrap import build_consumer
from metaledger.api.observability.metrics import exposition_registry
from metaledger.api.settings import Settings
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.relay.relay import Relay
from tests.integration.kafka.conftest import create
from tests.integration.kafka.test_consumers import Recorder

WAIT_SECONDS = 60


def _sample(name: str, **labels: str) -> float:
    return exposition_registry().get_sample_value(name, labels) or 0.0


def test_each_handled_event_is_counted_logged_and_the_lag_falls_to_zero(
    stream_settings: Settings,
    profiles: UserProfiles,
    relay: Relay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="metaledger.background")
    for index in range(3):
        create(profiles, f"t{index}@example.com", app_metadata={"plan": "pro"})
    relay.catch_up()
    handled = {"consumer": "entitlements", "outcome": "handled"}
    before = _sample("metaledger_consumer_events_total", **handled)
    runner = build_consumer(stream_settings, "entitlements")
    assert runner is not None
    recorder = Recorder()
    runner.on_handled = recorder
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        recorder.wait_for(3)
        deadline = time.monotonic() + WAIT_SECONDS
        lag = ("metaledger_consumer_lag_messages", {"consumer": "entitlements"})
        while exposition_registry().get_sample_value(*lag) != 0:  # None: not reported yet
            assert time.monotonic() < deadline, "the lag was never reported as 0"
            time.sleep(0.05)
    finally:
        runner.stop()
        thread.join(WAIT_SECONDS)
    assert _sample("metaledger_consumer_events_total", **handled) - before == 3
    lines = [r for r in caplog.records if getattr(r, "consumer", None) == "entitlements"]
    assert [r.__dict__["event_id"] for r in lines] == [event.id for event in recorder.handled]
    assert all(r.__dict__["event_type"] == "user.created" for r in lines)
