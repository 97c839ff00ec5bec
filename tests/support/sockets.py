"""Raw sockets in tests: waiting for an answer without select(), which refuses descriptors
numbered past 1024 (a long suite's process can hold that many)."""

from __future__ import annotations

import select
import socket


def readable_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the connection has something to read (or was closed) within `seconds`."""
    waiting = select.poll()
    waiting.register(connection, select.POLLIN)
    return bool(waiting.poll(seconds * 1000))
