"""The `metaledger` command line: one subcommand per process the service can run."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from api import history_command, search_commands, stream_commands
from api.bootstrap import build, running
from api.http_processes import serve_in_processes
from api.main import create_app
from api.settings import Settings


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[Settings, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


def serve(settings: Settings, _: argparse.Namespace) -> int:
    container = build(settings)
    collect_cycles_rarely()
    store = "PostgreSQL" if settings.database_url else settings.data_dir / "events.sqlite3"
    processes = f", {settings.http_workers} HTTP processes" if settings.http_workers > 1 else ""
    print(
        f"metaledger: serving on http://{settings.host}:{settings.port} "
        f"(event store: {store}{processes})",
        file=sys.stderr,
    )
    options: dict[str, Any] = {"log_level": "info", "access_log": False}
    if settings.http_workers == 1:
        uvicorn.run(create_app(container), host=settings.host, port=settings.port, **options)
        return 0
    # The HTTP processes build their apps from the environment (a Python process serves one
    # core at a time); this one has made the store, keys and clients they share, supervises
    # them, and runs the background workers once for all of them.
    os.environ["METALEDGER_EMBEDDED_WORKERS"] = "false"
    with running(container.background):
        return serve_in_processes(
            "api.cli:http_process_app",
            settings.http_workers,
            settings.host,
            settings.port,
            options,
        )


def http_process_app() -> FastAPI:
    """The app of one of several HTTP processes (configured by the environment)."""
    collect_cycles_rarely()
    return create_app()


def collect_cycles_rarely() -> None:
    """Requests build many short-lived JSON containers, freed by reference counting; with the
    default thresholds the cycle collector rescans them thousands of times a second (a feed
    page of 10,000 events spends ~40% of its time there)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


COMMANDS: dict[str, Command] = {
    "serve": Command("serve the HTTP API (and, embedded, the background workers)", serve),
    "history": Command("print a user's timeline", history_command.run, history_command.arguments),
    "project": Command("run the search projector: follow the event log", search_commands.project),
    "rebuild": Command(
        "rebuild the search read model from position 0",
        search_commands.rebuild,
        search_commands.rebuild_arguments,
    ),
    "relay": Command("run the Kafka relay: publish the event log", stream_commands.relay),
    "consume": Command(
        "run a change-stream consumer", stream_commands.consume, stream_commands.consume_arguments
    ),
    "tail": Command(
        "print the change stream", stream_commands.tail, stream_commands.tail_arguments
    ),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="metaledger", description="Event-sourced Auth0-compatible user profiles."
    )
    commands = root.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help)
        if command.arguments is not None:
            command.arguments(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parser().parse_args(argv)
    return COMMANDS[args.command].run(Settings.from_env(), args)


if __name__ == "__main__":
    sys.exit(main())
