"""`metaledger serve`: the HTTP API, in one process or several, and (embedded) the workers."""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import sys
from typing import Any

from fastapi import FastAPI

from metaledger.api import logs
from metaledger.api.auth.clients import admin_client_source
from metaledger.api.bootstrap import build_http
from metaledger.api.cli.processes import run_server, serve_in_processes
from metaledger.api.cluster import NodeRefused, check_shared_secrets, single_node
from metaledger.api.http.app import create_app
from metaledger.api.http.connections import ServerLimits
from metaledger.api.http.console.administrator import console_source
from metaledger.api.observability import metrics
from metaledger.api.observability.leases import LeaseCollector
from metaledger.api.observability.positions import PositionsCollector
from metaledger.api.settings import Settings

log = logging.getLogger("metaledger.serve")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        check_shared_secrets(settings)
        # Every process of this run, the HTTP processes it spawns too, keeps its metrics there.
        with single_node(settings), metrics.multiprocess_directory():
            return _serve(settings, args)
    except NodeRefused as error:
        print(f"metaledger: {error}", file=sys.stderr)
        return 2


def _serve(settings: Settings, _: argparse.Namespace) -> int:
    container = build_http(settings)
    metrics.serve_metrics(
        settings,
        [
            PositionsCollector(container.positions),
            LeaseCollector(container.node, container.leases),
        ],
        metrics.DEFAULT_SERVE_PORT,
    )
    collect_cycles_rarely()
    processes = f", {settings.http_processes} HTTP processes" if settings.http_processes > 1 else ""
    # Log lines, so that a log collector reads them as it reads the rest.
    log.info(
        "serving on http://%s:%d (event store: %s%s)",
        settings.host,
        settings.port,
        settings.store.describe(),
        processes,
    )
    log.info(
        admin_client_source(
            settings.data_dir, settings.admin_client_id, settings.admin_client_secret
        )
    )
    log.info(
        console_source(
            settings.data_dir,
            settings.console,
            settings.console_admin_username,
            settings.console_admin_password,
            f"http://{settings.host}:{settings.port}",
        )
    )
    # Logging is set up already (`metaledger.api.logs`): uvicorn keeps to it, and each request
    # is logged by the app's access log, with its request id.
    options: dict[str, Any] = {"log_config": None, "access_log": False}
    limits = ServerLimits.of(settings)
    if settings.http_processes == 1:
        return run_server(create_app(container), settings.host, settings.port, limits, options)
    # A Python process serves one core at a time. This one has made the store, keys and clients
    # the HTTP processes share, supervises them, and runs the background workers once for all.
    http_settings = settings.replace(embedded_workers=False)
    return serve_in_processes(
        functools.partial(http_process_app, http_settings),
        settings.http_processes,
        settings.host,
        settings.port,
        limits,
        options,
        container.background,
    )


def http_process_app(settings: Settings) -> FastAPI:
    """The app of one of several HTTP processes."""
    logs.configure(settings.log_level, settings.log_format, settings.access_log)
    collect_cycles_rarely()
    return create_app(build_http(settings))


def collect_cycles_rarely() -> None:
    """Requests build many short-lived JSON containers, freed by reference counting; with the
    default thresholds the cycle collector rescans them thousands of times a second (a feed
    page of 10,000 events spends ~40% of its time there)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
