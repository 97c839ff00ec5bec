"""`metaledger project` and `metaledger rebuild`: the search projector as a process of its own.

`project` follows the event log until stopped (SIGINT/SIGTERM), for deployments where `serve`
runs with METALEDGER_EMBEDDED_WORKERS=false. `rebuild` replaces the read model with one
projected from position 0, in one transaction: a projector running meanwhile waits for it, then
goes on from the position it recorded.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from types import FrameType
from typing import TextIO

from metaledger.api.bootstrap import build_profiles, build_projector
from metaledger.api.settings import Settings
from metaledger.projections.search.projector import (
    EVENTS_PER_PASS,
    EVENTS_PER_PROCESS,
    Progress,
)
from metaledger.projections.search.projector import rebuild as rebuild_read_model

BAR_WIDTH = 30
DEFAULT_PROCESSES = os.cpu_count() or 1


def project(settings: Settings, _: argparse.Namespace) -> int:
    projection = build_projector(settings)
    service = projection.service()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    position = projection.store.position() or 0
    print(f"metaledger: projecting from position {position}", file=sys.stderr)
    try:
        service.run()
    finally:
        projection.close()
    return 0


def rebuild_arguments(parser: argparse.ArgumentParser) -> None:
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
    projection = build_projector(settings)
    profiles, store = projection.profiles, projection.store
    try:
        bar = ProgressBar(sys.stderr)
        started = time.monotonic()
        events = rebuild_read_model(
            profiles,
            store,
            bar.show,
            args.events_per_pass,
            open_application=functools.partial(build_profiles, settings, create_tables=False),
            processes=args.processes,
        )
        elapsed = time.monotonic() - started
        bar.finish()
        skipped = len(store.skipped_events())
        print(
            f"metaledger: rebuilt the search read model from {events:,} events in "
            f"{elapsed:.1f} s ({events / max(elapsed, 1e-9):,.0f} events/s, {skipped} skipped)",
            file=sys.stderr,
        )
    finally:
        projection.close()
    return 0


class ProgressBar:
    """Redrawn in place on a terminal; a line per tenth of the way otherwise (logs)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.interactive = out.isatty()
        self.last_tenth = -1

    def show(self, progress: Progress) -> None:
        share = min(progress.done / progress.total, 1.0) if progress.total else 1.0
        rate = progress.events / max(time.monotonic() - self.started, 1e-9)
        filled = int(share * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%}  "
            f"{progress.done:,} of {progress.total:,} notifications read  {rate:,.0f} events/s"
        )
        if self.interactive:
            self.out.write("\r" + line)
        elif int(share * 10) > self.last_tenth:
            self.last_tenth = int(share * 10)
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.interactive:
            self.out.write("\n")
