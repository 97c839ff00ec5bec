"""`metaledger import FILE` and `metaledger export FILE`: bulk jobs run by the command itself,
on the store the settings name, with a progress bar and a summary.

An import is recorded as a job like one sent over HTTP (its events name it as their actor, and
`GET /api/v2/jobs/{id}` and `/errors` show it); its file is copied beside the server's uploads, so
that if the command dies a running server resumes the job once it has been silent long enough.
An export of the present reads the search read model when it has reached the log's end, else
it replays the log.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from metaledger.api import stores
from metaledger.api.bootstrap import build_jobs, build_profiles, open_profiles
from metaledger.api.jobs import ExportSource, run_import
from metaledger.api.settings import Settings
from metaledger.api.stores import StoreNotFound
from metaledger.domain.exports import FORMATS, ExportField, write_export
from metaledger.domain.imports import ImportFileError, check_file
from metaledger.domain.jobs import IMPORT, PROCESSING, Job, new_job_id

SHOWN_ERRORS = 10


def import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an Auth0 import file or users export (.gz too)")
    parser.add_argument("--connection", required=True, help="the database connection's name")
    parser.add_argument("--upsert", action="store_true", help="update users that exist")


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="where to write (gzipped if it ends in .gz)")
    parser.add_argument("--format", choices=FORMATS, default="json", help="json: one user a line")
    parser.add_argument(
        "--fields",
        help="comma-separated fields, dotted paths allowed, each NAME or NAME=COLUMN",
    )
    parser.add_argument("--as-of", help="everyone as they were at this ISO-8601 date-time")
    parser.add_argument("--connection", help="only the users of this connection")
    parser.add_argument("--limit", type=int, help="at most this many users")


def bar(err: Console, description: str) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def run_import_command(settings: Settings, args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    if args.connection not in settings.connections:
        err.print(f"metaledger: no connection {args.connection!r} (METALEDGER_CONNECTIONS)")
        return 2
    try:
        lines = check_file(args.file)
    except (ImportFileError, FileNotFoundError) as error:
        err.print(f"metaledger: {getattr(error, 'message', error)}")
        return 2
    profiles = build_profiles(settings)
    try:
        jobs = build_jobs(settings, profiles)
        job = Job(
            new_job_id(),
            IMPORT,
            args.connection,
            time.time(),
            {"upsert": args.upsert, "lines": lines},
            status=PROCESSING,
        )
        upload = jobs.files.upload(job.id)
        shutil.copyfile(args.file, upload)
        jobs.store.add(job)
        with bar(err, "importing") as progress:
            task = progress.add_task("import", total=lines)
            run_import(
                profiles,
                jobs.store,
                job,
                upload,
                lambda line: progress.update(task, completed=line),
            )
        upload.unlink(missing_ok=True)
        done = jobs.store.get(job.id)
        failed = jobs.store.errors(job.id)
    finally:
        profiles.close()
    assert done is not None
    err.print(
        f"{job.id}: {done.inserted} inserted, {done.updated} updated, {len(failed)} failed "
        f"of {lines} users in {args.connection}"
    )
    for line in failed[:SHOWN_ERRORS]:
        reasons = "; ".join(f"{e.code}: {e.message}" for e in line.errors)
        err.print(f"  line {line.line}: {reasons}")
    if len(failed) > SHOWN_ERRORS:
        err.print(f"  … and {len(failed) - SHOWN_ERRORS} more (GET /api/v2/jobs/{job.id}/errors)")
    return 1 if failed else 0


def run_export_command(settings: Settings, args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        as_of = datetime.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        err.print(f"metaledger: --as-of {args.as_of!r} is not an ISO-8601 date-time")
        return 2
    if as_of is not None and as_of.tzinfo is None:
        err.print("metaledger: --as-of needs a time zone (Z or an offset)")
        return 2
    try:
        profiles = open_profiles(settings)
    except StoreNotFound as missing:
        err.print(f"metaledger: {missing}")
        return 1
    # The read model when it has followed the log to its end already (no server may be running
    # to move it on, so the command does not wait), else a replay of the log.
    search = stores.search_store(settings.store)
    try:
        with bar(err, "exporting") as progress:
            task = progress.add_task("export", total=None)
            written = write_export(
                args.file,
                args.format,
                parse_fields(args.fields),
                ExportSource(search, 0).documents(profiles, args.connection, as_of),
                args.limit,
                lambda count: progress.update(task, completed=count),
                gzipped=args.file.suffix == ".gz",
            )
    finally:
        search.close()
        profiles.close()
    err.print(f"{written} users written to {args.file} ({args.format})")
    return 0


def parse_fields(text: str | None) -> list[ExportField]:
    fields = []
    for part in (text or "").split(","):
        name, _, column = part.strip().partition("=")
        if name:
            fields.append(ExportField(name, column or None))
    return fields
