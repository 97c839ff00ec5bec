"""serve's metrics directory: fresh for each run, removed at its end, and the directories of
runs that were killed removed by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from prometheus_client import values

from metaledger.api.observability.metrics import (
    DIRECTORY_PREFIX,
    MULTIPROCESS_VARIABLE,
    multiprocess_directory,
)


def _ended_process() -> int:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_has_a_directory_of_its_own_removed_at_its_end() -> None:
    with multiprocess_directory() as directory:
        assert os.environ[MULTIPROCESS_VARIABLE] == str(directory)
        assert directory.name.startswith(f"{DIRECTORY_PREFIX}{os.getpid()}-")
        assert values.ValueClass is not values.MutexValue
    assert not directory.exists()
    assert MULTIPROCESS_VARIABLE not in os.environ
    assert values.ValueClass is values.MutexValue


def test_the_directory_of_a_killed_run_is_removed_and_a_running_ones_kept() -> None:
    temporary = Path(tempfile.gettempdir())
    killed = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{_ended_process()}-", dir=temporary))
    running = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getppid()}-", dir=temporary))
    try:
        with multiprocess_directory():
            pass
        assert not killed.exists()
        assert running.exists()
    finally:
        running.rmdir()
