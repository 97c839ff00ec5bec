"""`metaledger history USER_ID`: a user's timeline, oldest first, diffs coloured in a terminal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson
from rich.console import Console
from rich.text import Text

from metaledger.api.bootstrap import open_profiles
from metaledger.api.cli.terminal import add_color_argument, console
from metaledger.api.settings import Settings
from metaledger.api.stores import StoreNotFound
from metaledger.domain.errors import UserNotFound
from metaledger.domain.history import HistoryFilter, UserHistory
from metaledger.domain.timeline import Entry, format_instant

PAGE = 100


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_id", help="the user's id, e.g. auth0|0123456789abcdef")
    parser.add_argument("--limit", type=int, help="only the last LIMIT events")
    add_color_argument(parser, "diffs")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profiles = open_profiles(settings)
    except StoreNotFound as missing:
        print(f"metaledger: {missing}", file=sys.stderr)
        return 1
    print(f"metaledger: reading {settings.store.describe()}", file=sys.stderr)
    history = UserHistory(profiles)
    try:
        total = history.page(args.user_id, HistoryFilter(), 0, 1).total
        entries = newest_entries(history, args.user_id, args.limit)
    except UserNotFound:
        print(f"metaledger: no user {args.user_id}", file=sys.stderr)
        return 1
    finally:
        profiles.close()
    write_timeline(console(sys.stdout, args.color), args.user_id, list(reversed(entries)), total)
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


def write_timeline(out: Console, user_id: str, entries: list[Entry], total: int) -> None:
    shown = f"{total} events" if len(entries) == total else f"the last {len(entries)} of {total}"
    out.print(Text.assemble((user_id, "bold"), f"  ({shown})"))
    for entry in entries:
        marks = " (erased)" if entry.erased else ""
        out.print()
        out.print(
            Text.assemble(
                f"v{entry.version}  {format_instant(entry.timestamp)}  ",
                (entry.event + marks, "bold"),
                (f"  {describe_actor(entry.actor)}", "dim"),
            )
        )
        if entry.erased and entry.event != "UserDeleted":
            out.print(Text("    [payload erased]", style="dim"))
        for key, change in (entry.changes or {}).items():
            out.print(Text("    ").append_text(describe_change(key, change)))


def describe_change(key: str, change: dict[str, Any]) -> Text:
    old, new = change.get("old"), change.get("new")
    if old is None:
        return Text(f"+ {key}: {_json(new)}", style="green")
    if new is None:
        return Text(f"- {key}: {_json(old)}", style="red")
    return Text.assemble(f"~ {key}: ", (_json(old), "red"), " → ", (_json(new), "green"))


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
