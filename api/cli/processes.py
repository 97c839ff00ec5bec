"""`serve`'s HTTP server in this process or in several, and stops that finish in bounded time.

A stop finishes in bounded time whatever the store's state, and HTTP processes end with their
supervisor. Several processes each listen on a socket of their own (SO_REUSEPORT). With one
listening socket shared by all processes, the process that wakes first accepts every connection
waiting, so a client that opens its connection pool in one go lands on a single process while
the others idle. With a socket each, the kernel spreads new connections over the processes by a
hash of their addresses.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from metaledger.api.bootstrap import BackgroundService, running
from metaledger.api.http.connections import ServerConfig, ServerLimits
from metaledger.api.observability.metrics import process_ended

log = logging.getLogger(__name__)

# The exit status of a process that the deadline of a stop ended.
STOP_TIMED_OUT = 1
# The supervisor's deadline comes this much after its HTTP processes', which it kills by then.
SUPERVISOR_GRACE = 2


def exit_after(seconds: float) -> None:
    """Ends this process in `seconds`, whatever it waits for then: a thread blocked on a store
    that is gone holds a graceful stop for minutes (the event loop's exit waits for the threads
    that run requests)."""

    def cut() -> None:
        log.error("not stopped %g s after the signal to stop; exiting", seconds)
        os._exit(STOP_TIMED_OUT)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()


class StoppingServer(uvicorn.Server):
    """uvicorn's server, which the first signal to stop (SIGTERM, SIGINT) ends within the
    limits' `stop_timeout`."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.stop_timeout = config.limits.stop_timeout

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            exit_after(self.stop_timeout)
        super().handle_exit(sig, frame)


def run_server(
    app: FastAPI,
    host: str,
    port: int,
    limits: ServerLimits,
    options: dict[str, Any],
    sockets: list[socket.socket] | None = None,
) -> int:
    """Serves `app` until a signal to stop; returns the exit status."""
    server = StoppingServer(ServerConfig(app, limits, host=host, port=port, **options))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the SIGINT it stopped for again
        server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILURE


def port_sharing_socket(host: str, port: int) -> socket.socket:
    """A socket bound to the port, which other sockets of this user may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_in_processes(
    app: Callable[[], FastAPI],
    count: int,
    host: str,
    port: int,
    limits: ServerLimits,
    options: dict[str, Any],
    background: Sequence[BackgroundService],
) -> int:
    """Runs `count` processes, each serving the app that `app` (a picklable factory) builds in
    it, and the `background` services in this one; restarts an HTTP process that dies, stops
    them all on SIGINT or SIGTERM. Returns the exit status."""
    try:
        # Bound but not listening: it holds the port (and picks it, for port 0), fails early
        # when another program has it, and the kernel routes no connection to it.
        reserved = port_sharing_socket(host, port)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", host, port, error)
        return STARTUP_FAILURE
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            exit_after(limits.stop_timeout + SUPERVISOR_GRACE)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    with reserved:
        port = reserved.getsockname()[1]

        def start() -> BaseProcess:
            process = spawn.Process(target=_serve, args=(app, host, port, limits, options))
            process.start()
            return process

        with running(background):
            processes = [start() for _ in range(count)]
            status = 0
            while not stopping.wait(0.5):
                for index, process in enumerate(processes):
                    if process.is_alive():
                        continue
                    process_ended(process.pid)
                    if process.exitcode == STARTUP_FAILURE:  # would fail again on every restart
                        log.error("HTTP process %d failed to start; stopping", process.pid)
                        status = STARTUP_FAILURE
                        stopping.set()
                        break
                    log.warning(
                        "HTTP process %d exited (%s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    processes[index] = start()
            deadline = time.monotonic() + limits.stop_timeout
            for process in processes:
                process.terminate()  # uvicorn finishes the requests in progress, then exits
        # The background services stopped while the HTTP processes finished their requests.
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():  # it would have ended itself by now
                log.error("HTTP process %d did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
    return status


def _serve(
    app: Callable[[], FastAPI],
    host: str,
    port: int,
    limits: ServerLimits,
    options: dict[str, Any],
) -> None:
    _stop_with_supervisor()
    sock = port_sharing_socket(host, port)
    sys.exit(run_server(app(), host, port, limits, options, sockets=[sock]))


def _stop_with_supervisor() -> None:
    """Stops this HTTP process once the supervisor is gone, killed with SIGKILL too: it would
    serve the port on with no search projector or relay behind it. multiprocessing gives a
    spawned process a pipe from its parent, which the kernel closes when the parent dies."""
    supervisor = multiprocessing.parent_process()
    assert supervisor is not None, "HTTP processes are spawned by the supervisor"

    def watch() -> None:
        supervisor.join()
        log.warning("the supervising process %d is gone; stopping", supervisor.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def run_until_signalled(service: BackgroundService) -> None:
    """Runs `service` in the background of this process until SIGINT or SIGTERM, then stops it
    (a command whose worker runs under a lease: the lease's thread starts and stops it)."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with running([service]):
        stopping.wait()
