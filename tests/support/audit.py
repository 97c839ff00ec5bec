"""Waiting for the audit read model, and reading it as the logs API does."""

from __future__ import annotations

import time

from metaledger.api.bootstrap import Container

POLL_SECONDS = 0.01
WAIT_SECONDS = 30.0


def audit_caught_up(container: Container) -> None:
    """Returns once the audit projector applied every event recorded so far."""
    end = container.profiles.recorder.max_notification_id() or 0
    deadline = time.monotonic() + WAIT_SECONDS
    while (container.audit.position() or 0) < end:
        assert time.monotonic() < deadline, "the audit projector did not catch up"
        time.sleep(POLL_SECONDS)
