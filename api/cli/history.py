"""`metaledger history USER_ID`: a user's timeline, oldest first, diffs coloured in a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

import orjson

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from metaledger.domain.errors import UserNotFound
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.timeline import Entry, format_instant

PAGE = 100
RED, GREEN, BOLD, DIM, RESET = "\033[31m", "\033[32m", "\033[1m", "\033[2m", "\033[0m"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_id", help="the user's id, e.g. auth0|0123456789abcdef")
    parser.add_argument("--limit", type=int, help="only the last LIMIT events")
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the diffs (auto: when writing to a terminal and NO_COLOR is unset)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    history = UserHistory(build_profiles(settings))
    try:
        entries = newest_entries(history, args.user_id, args.limit)
    except UserNotFound:
        print(f"metaledger: no user {args.user_id}", file=sys.stderr)
        return 1
    colour = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    write_timeline(sys.stdout, args.user_id, list(reversed(entries)), colour)
    return 0


def newest_entries(history: UserHistory, user_id: str, limit: int | None) -> list[Entry]:
    entries: list[Entry] = []
    before: int | None = None
    while limit is None or len(entries) < limit:
        take = PAGE if limit is None else min(PAGE, limit - len(entries))
        page = history.checkpoint(user_id, HistoryFilter(), before, take)
        entries.extend(page.entries)
        if page.next is None:
            break
        before = page.next
    return entries


def write_timeline(out: TextIO, user_id: str, entries: list[Entry], colour: bool) -> None:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if colour else text

    out.write(paint(BOLD, user_id) + f"  ({len(entries)} events)\n")
    for entry in entries:
        marks = " (erased)" if entry.erased else ""
        out.write(
            f"\nv{entry.version}  {format_instant(entry.timestamp)}  "
            + paint(BOLD, entry.event + marks)
            + paint(DIM, f"  {describe_actor(entry.actor)}")
            + "\n"
        )
        if entry.erased and entry.event != "UserDeleted":
            out.write("    " + paint(DIM, "[payload erased]") + "\n")
        for key, change in (entry.changes or {}).items():
            old, new = change.get("old"), change.get("new")
            if old is None:
                line = paint(GREEN, f"+ {key}: {_json(new)}")
            elif new is None:
                line = paint(RED, f"- {key}: {_json(old)}")
            else:
                line = f"~ {key}: " + paint(RED, _json(old)) + " → " + paint(GREEN, _json(new))
            out.write(f"    {line}\n")


def describe_actor(actor: dict[str, Any] | None) -> str:
    if not actor:
        return "by unknown"
    text = f"by {actor.get('kind')} {actor.get('id')}"
    if actor.get("grant"):
        text += f" ({actor['grant']})"
    if actor.get("request_id"):
        text += f" request {actor['request_id']}"
    if actor.get("ip"):
        text += f" from {actor['ip']}"
    return text


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
