"""Several HTTP processes on one port, each listening on a socket of its own (SO_REUSEPORT).

With one listening socket shared by all processes, the process that wakes first accepts every
connection waiting, so a client that opens its connection pool in one go lands on a single
process while the others idle. With a socket each, the kernel spreads new connections over the
processes by a hash of their addresses.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger(__name__)


def port_sharing_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the port, which other sockets of this user may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_in_processes(
    app: Callable[[], FastAPI], count: int, host: str, port: int, options: dict[str, Any]
) -> int:
    """Runs `count` processes, each serving the app that `app` (a picklable factory) builds in
    it; restarts one that dies, stops them all on SIGINT or SIGTERM. Returns the exit status."""
    try:
        # Bound but not listening: it holds the port (and picks it, for port 0), fails early
        # when another program has it, and the kernel routes no connection to it.
        reserved = port_sharing_socket(host, port)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", host, port, error)
        return STARTUP_FAILURE
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with reserved:
        port = reserved.getsockname()[1]

        def start() -> BaseProcess:
            process = spawn.Process(target=_serve, args=(app, host, port, options))
            process.start()
            return process

        processes = [start() for _ in range(count)]
        status = 0
        while not stopping.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:  # would fail again on every restart
                    log.error("HTTP process %d failed to start; stopping", process.pid)
                    status = STARTUP_FAILURE
                    stopping.set()
                    break
                log.warning(
                    "HTTP process %d exited (%s); starting another", process.pid, process.exitcode
                )
                processes[index] = start()
        for process in processes:
            process.terminate()  # uvicorn finishes the requests in progress, then exits
        for process in processes:
            process.join()
    return status


def _serve(app: Callable[[], FastAPI], host: str, port: int, options: dict[str, Any]) -> None:
    sock = port_sharing_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app(), host=host, port=port, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
