"""A throwaway PostgreSQL server in a temporary directory on a free port.

Uses the machine's `initdb`/`pg_ctl` (Debian's postgresql package). PostgreSQL refuses to run
as root, so under root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.support.ports import free_port


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"{name} not found: install PostgreSQL (make test does)")
    return candidates[-1]


class PostgresServer:
    """`durable=False` (tests) turns fsync off; benchmarks keep PostgreSQL's durable defaults."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="metaledger-pg-"))
        self.data = self.directory / "data"
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    def _command(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def start(self) -> None:
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        subprocess.run(
            self._command(
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        self.resume()

    def resume(self) -> None:
        """Starts the server on its data (after `start` made it, or after `halt`)."""
        options = (
            f"-p {self.port} -k {self.directory} -h 127.0.0.1 "
            "-c max_connections=500 -c shared_buffers=256MB"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            self._command(
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def halt(self) -> None:
        """Stops the server at once, as a crash would; its data stays for `resume`."""
        subprocess.run(
            self._command(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
            check=False,
            capture_output=True,
        )

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
