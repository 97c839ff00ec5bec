"""Where a route's read of the store runs: inline on SQLite, in a worker thread on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from metaledger.api.http.store_reads import read_store
from metaledger.api.settings import Settings


def thread_of_read(settings: Settings) -> threading.Thread:
    async def read() -> threading.Thread:
        return await read_store(settings, threading.current_thread)

    return asyncio.run(read())


def test_a_sqlite_read_runs_on_the_event_loops_thread(tmp_path: Path) -> None:
    assert thread_of_read(Settings(data_dir=tmp_path)) is threading.current_thread()


def test_a_postgresql_read_runs_off_the_event_loop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://u:p@db.invalid:5432/ledger")
    assert thread_of_read(settings) is not threading.current_thread()
