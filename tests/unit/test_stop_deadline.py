"""A stop's deadline ends the process whatever it waits for, and the limits behind it are set."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from metaledger.api.cli.processes import STOP_TIMED_OUT
from metaledger.api.settings import Settings, describe_error

LIMITS = (
    "http_workers",
    "header_timeout_seconds",
    "body_timeout_seconds",
    "max_header_bytes",
    "max_connections",
    "shutdown_timeout_seconds",
)

WAITS_FOREVER = """
import threading
from metaledger.api.cli.processes import exit_after
exit_after(0.1)
threading.Event().wait()
"""


def test_the_deadline_of_a_stop_ends_a_process_that_waits_forever() -> None:
    waiting = subprocess.run(
        [sys.executable, "-c", WAITS_FOREVER], capture_output=True, text=True, timeout=60
    )

    assert waiting.returncode == STOP_TIMED_OUT, waiting.stderr
    assert "not stopped 0.1 s after the signal to stop" in waiting.stderr


@pytest.mark.parametrize("name", LIMITS)
def test_a_limit_below_one_is_refused_naming_its_variable(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({f"METALEDGER_{name.upper()}": "0"})
    assert describe_error(refused.value) == (
        f"METALEDGER_{name.upper()}: Input should be greater than or equal to 1 (got '0')"
    )
