"""`metaledger audit`: who changed what, when, across users, from the audit read model, as a
table or as CSV; and the audit side of `metaledger rebuild`."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from metaledger.api import stores
from metaledger.api.bootstrap import build_audit_projector, open_profiles
from metaledger.api.http.query_params import parse_instant
from metaledger.api.settings import Settings
from metaledger.api.stores import StoreNotFound
from metaledger.domain.user import format_timestamp
from metaledger.projections.audit.export import CSV_COLUMNS, as_json, cells, csv_line
from metaledger.projections.audit.projector import rebuild as rebuild_read_model
from metaledger.projections.audit.records import ChangeRow, instant, micros
from metaledger.projections.audit.store import AuditStore, ChangeQuery, Cursor

PAGE = 1000
DEFAULT_LIMIT = 100
PIPED_WIDTH = 240


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="a key (app_metadata.roles) or a prefix (app_metadata)")
    parser.add_argument("--to", help="the new value, or a value an array gained (admin)")
    parser.add_argument(
        "--from", dest="from_", help="the old value, or a value an array lost (free)"
    )
    parser.add_argument("--actor-kind", help="client, user, self-signup, system")
    parser.add_argument("--actor-id", help="a client id or user id")
    parser.add_argument("--client-id", help="the application the change came through")
    parser.add_argument("--user-id", help="one user's changes")
    parser.add_argument("--since", help="ISO-8601 date or date-time, inclusive")
    parser.add_argument("--until", help="ISO-8601 date or date-time, exclusive")
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"at most this many changes, newest first (default {DEFAULT_LIMIT}; 0: all)",
    )
    parser.add_argument("--csv", action="store_true", help="CSV on standard output, every column")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        query = ChangeQuery(
            key=args.key,
            to=args.to,
            from_=args.from_,
            actor_kind=args.actor_kind,
            actor_id=args.actor_id,
            client_id=args.client_id,
            user_id=args.user_id,
            since=_moment(args.since, "--since"),
            until=_moment(args.until, "--until"),
            take=PAGE if args.limit <= 0 else min(args.limit, PAGE),
        )
        profiles = open_profiles(settings)
    except (ValueError, StoreNotFound) as error:
        print(f"metaledger: {error}", file=sys.stderr)
        return 2
    store = stores.audit_store(settings.store)
    try:
        end = profiles.recorder.max_notification_id() or 0
        changes = _changes(store, query, args.limit)
        position = store.position() or 0
    finally:
        store.close()
        profiles.close()
    if args.csv:
        sys.stdout.write(csv_line(CSV_COLUMNS))
        for change in changes:
            sys.stdout.write(csv_line(cells(change)))
    else:
        console = Console(highlight=False)
        if not console.is_terminal:  # a file or a pipe: one line per change, however long
            console = Console(highlight=False, width=PIPED_WIDTH)
        console.print(_table(changes))
    if position < end:
        print(
            f"metaledger: the audit read model is at position {position} of {end}: the "
            "latest changes are not in it yet (is a projector running?)",
            file=sys.stderr,
        )
    return 0


def _moment(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return micros(parse_instant(text, name))
    except Exception as error:  # parse_instant speaks HTTP: say its message plainly
        raise ValueError(getattr(error, "message", str(error))) from None


def _changes(store: AuditStore, query: ChangeQuery, limit: int) -> list[ChangeRow]:
    found: list[ChangeRow] = []
    while True:
        page = store.changes(query)
        found += page.changes
        if page.next is None or (limit > 0 and len(found) >= limit):
            return found[:limit] if limit > 0 else found
        query = replace(query, after=Cursor.parse(page.next))


def _table(changes: list[ChangeRow]) -> Table:
    table = Table("when", "who", "user", "key", "old → new", "client", box=None)
    for change in changes:
        table.add_row(
            format_timestamp(instant(change.at)),
            f"{change.actor_kind} {change.actor_id}",
            change.user_id,
            change.key,
            f"[red]{_shown(change.old)}[/red] → [green]{_shown(change.new)}[/green]",
            change.client_id or "",
        )
    return table


def _shown(value: object) -> str:
    return escape(as_json(value) or "∅")


def rebuild(settings: Settings) -> None:
    """Replaces the audit read model with one projected from position 0."""
    projection = build_audit_projector(settings)
    started = time.monotonic()
    try:
        events = rebuild_read_model(projection.profiles, projection.store)
    finally:
        projection.close()
    print(
        f"metaledger: rebuilt the audit read model from {events:,} events in "
        f"{time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
