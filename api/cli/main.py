"""The `metaledger` command: its parser, and one subcommand per process the service can run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from metaledger.api import logs
from metaledger.api.cli import audit, history, jobs, rules, search, stream
from metaledger.api.cli.serve import serve
from metaledger.api.settings import Settings, describe_error


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[Settings, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


COMMANDS: dict[str, Command] = {
    "serve": Command("serve the HTTP API (and, embedded, the background workers)", serve),
    "history": Command("print a user's timeline", history.run, history.arguments),
    "project": Command("run the search and audit projectors: follow the event log", search.project),
    "rebuild": Command(
        "rebuild the search and audit read models from position 0",
        search.rebuild,
        search.rebuild_arguments,
    ),
    "relay": Command(
        "run the Kafka relay: publish the event log", stream.relay, stream.relay_arguments
    ),
    "consume": Command("run a change-stream consumer", stream.consume, stream.consume_arguments),
    "tail": Command("print the change stream", stream.tail, stream.tail_arguments),
    "rules": Command("report what each rule needs to become an Action", rules.run, rules.arguments),
    "import": Command(
        "import users from an Auth0 import or export file",
        jobs.run_import_command,
        jobs.import_arguments,
    ),
    "export": Command(
        "export users to gzipped JSON lines or CSV", jobs.run_export_command, jobs.export_arguments
    ),
    "audit": Command("print who changed what, when, across users", audit.run, audit.arguments),
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
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format, settings.access_log)
    except ValidationError as error:
        print(f"metaledger: refused settings:\n{describe_error(error)}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"metaledger: {error}", file=sys.stderr)
        return 2
    return COMMANDS[args.command].run(settings, args)


if __name__ == "__main__":
    sys.exit(main())
