"""`metaledger serve` runs the relay beside the API when a broker is configured."""

from __future__ import annotations

import pytest

from metaledger.api.bootstrap import build_http
from metaledger.api.settings import Settings
from metaledger.projections.lease import RELAY, LeasedService
from metaledger.projections.relay.service import RelayService


def test_serve_runs_the_relay_beside_the_api_when_a_broker_is_set(
    stream_settings: Settings,
) -> None:
    container = build_http(stream_settings.replace(embedded_workers=True))

    # On PostgreSQL, while this node holds the relay lease (other nodes may share it).
    assert any(
        isinstance(service, RelayService)
        or (isinstance(service, LeasedService) and service.lease.name == RELAY)
        for service in container.background
    )


def test_serve_says_publishing_is_off_without_a_broker(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    container = build_http(settings)

    assert not any(isinstance(service, RelayService) for service in container.background)
    assert "Kafka publishing is off" in caplog.text
