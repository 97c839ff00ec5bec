"""`metaledger project` and `metaledger rebuild`: the search projector as a process of its own.

`project` follows the event log until stopped (SIGINT/SIGTERM), for deployments where `serve`
runs with METALEDGER_EMBEDDED_WORKERS=false. `rebuild` replaces the read model with one
projected from position 0, in one transaction: a projector running meanwhile waits for it, then
goes on from the position it recorded. The audit projector runs beside the search projector
in `project`, and `rebuild` rebuilds its read model too (`--read-model` picks one).
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from metaledger.api.bootstrap import (
    build_audit_projector,
    build_profiles,
    build_projector,
    leased_projectors,
)
from metaledger.api.cli import audit
from metaledger.api.cli.processes import run_until_signalled
from metaledger.api.observability import metrics
from metaledger.api.observability.positions import SEARCH, one_follower
from metaledger.api.settings import Settings
from metaledger.projections.search.projector import (
    EVENTS_PER_PASS,
    EVENTS_PER_PROCESS,
    Progress,
)
from metaledger.projections.search.projector import rebuild as rebuild_read_model

DEFAULT_PROCESSES = os.cpu_count() or 1
READ_MODELS = ("search", "audit", "all")


def project(settings: Settings, _: argparse.Namespace) -> int:
    projection = build_projector(settings)
    audit_projection = build_audit_projector(settings)
    leased = leased_projectors(settings, projection, audit_projection)
    if leased is not None:  # one of several nodes: it projects while it holds the lease
        end = projection.profiles.recorder.max_notification_id
        metrics.serve_metrics(settings, [one_follower(end, SEARCH, projection.store.position)])
        print("metaledger: projecting while this node holds the projector lease", file=sys.stderr)
        try:
            run_until_signalled(leased)
        finally:
            audit_projection.close()
            projection.close()
        return 0
    # The audit projector reads the same batches of the log as the search projector.
    service = projection.service(audit_projection.projector())

    def stop(_signal: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    end = projection.profiles.recorder.max_notification_id
    metrics.serve_metrics(settings, [one_follower(end, SEARCH, projection.store.position)])
    position = projection.store.position() or 0
    print(f"metaledger: projecting from position {position}", file=sys.stderr)
    try:
        service.run()
    finally:
        audit_projection.close()
        projection.close()
    return 0


def rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--read-model",
        choices=READ_MODELS,
        default="all",
        help="which read model to rebuild (default: all)",
    )
    parser.add_argument(
        "--events-per-pass",
        type=int,
        default=EVENTS_PER_PASS,
        help="bounds the users held in memory: a log longer than this is read in several "
        f"passes, each folding a part of the users (default {EVENTS_PER_PASS:,})",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="processes folding parts of the users at once, one for every "
        f"{EVENTS_PER_PROCESS:,} events at most (default: the machine's cores, "
        f"{DEFAULT_PROCESSES})",
    )


def rebuild(settings: Settings, args: argparse.Namespace) -> int:
    if args.read_model in ("audit", "all"):
        audit.rebuild(settings)
    if args.read_model == "audit":
        return 0
    projection = build_projector(settings)
    profiles, store = projection.profiles, projection.store
    try:
        with RebuildProgress(Console(file=sys.stderr, highlight=False)) as progress:
            events = rebuild_read_model(
                profiles,
                store,
                progress.show,
                args.events_per_pass,
                open_application=functools.partial(build_profiles, settings, create_tables=False),
                processes=args.processes,
            )
        skipped = len(store.skipped_events())
        print(
            f"metaledger: rebuilt the search read model from {events:,} events "
            f"({skipped} skipped) in {progress.elapsed():.1f} s: read and folded at "
            f"{progress.rate():,.0f} events/s, then {progress.finishing():.1f} s to build the "
            "indexes and swap the new read model in",
            file=sys.stderr,
        )
    finally:
        projection.close()
    return 0


class RebuildProgress:
    """A progress bar with the rate and the time left on a terminal; a line per tenth of the way
    otherwise (logs). The rate is of events read and folded, as the summary reports it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()
        self.last = Progress(0, 0, 0)
        self.last_at = self.started
        self.last_tenth = -1
        self._bar = RichProgress(
            TextColumn("rebuilding"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f} of {task.total:,.0f} notifications"),
            TextColumn("{task.fields[rate]:,.0f} events/s"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self._task = self._bar.add_task("rebuild", total=None, rate=0.0)

    def __enter__(self) -> RebuildProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def show(self, progress: Progress) -> None:
        self.last, self.last_at = progress, time.monotonic()
        self._bar.update(
            self._task, completed=progress.done, total=progress.total, rate=self.rate()
        )
        if self.console.is_terminal:
            return
        share = min(progress.done / progress.total, 1.0) if progress.total else 1.0
        if int(share * 10) > self.last_tenth:
            self.last_tenth = int(share * 10)
            self.console.print(
                f"{share:4.0%}  {progress.done:,} of {progress.total:,} notifications read  "
                f"{self.rate():,.0f} events/s"
            )

    def rate(self) -> float:
        """Events read and folded per second, up to the last progress reported."""
        return self.last.events / max(self.last_at - self.started, 1e-9)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def finishing(self) -> float:
        """Seconds since the last progress: building the indexes and swapping the tables."""
        return time.monotonic() - self.last_at
