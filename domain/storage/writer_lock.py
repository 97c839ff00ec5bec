"""One writer at a time across the processes that share a SQLite file.

SQLite makes a writer that finds the file locked retry after sleeps of up to 100 ms, so with
several HTTP processes a lock wait became the slowest requests' latency. A blocking file lock
hands the write over as soon as the holder releases it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def exclusive(lock_path: str) -> Iterator[None]:
    with open(lock_path, "a") as lock_file:  # closing it releases the lock
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield
