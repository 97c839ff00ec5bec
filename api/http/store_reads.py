"""Reads of the store from an async route: where they run depends on what they wait on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from metaledger.api.settings import Settings

Result = TypeVar("Result")


async def read_store(settings: Settings, read: Callable[[], Result]) -> Result:
    """`read()`, inline on SQLite and in the thread pool on PostgreSQL.

    A read of a local SQLite file in WAL mode (a cached user and its newer events) takes less
    than the hop to a worker thread and back; a PostgreSQL round trip must not hold the event
    loop, which serves every other request meanwhile.
    """
    if settings.store_is_local:
        return read()
    return await run_in_threadpool(read)
