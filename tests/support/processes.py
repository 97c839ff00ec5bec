"""`metaledger` commands run as processes of their own, configured like the settings given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from metaledger.api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def environment(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("METALEDGER_")}
    env.update(
        {
            "METALEDGER_DATA_DIR": str(settings.data_dir),
            "METALEDGER_ISSUER": settings.issuer,
            "METALEDGER_KAFKA_TOPIC": settings.kafka_topic,
            "METALEDGER_KAFKA_PARTITIONS": str(settings.kafka_partitions),
            "METALEDGER_HEADER_TIMEOUT_SECONDS": str(settings.header_timeout_seconds),
            "METALEDGER_BODY_TIMEOUT_SECONDS": str(settings.body_timeout_seconds),
            "METALEDGER_MAX_HEADER_BYTES": str(settings.max_header_bytes),
            "METALEDGER_MAX_CONNECTIONS": str(settings.max_connections),
            "METALEDGER_SHUTDOWN_TIMEOUT_SECONDS": str(settings.shutdown_timeout_seconds),
        }
    )
    if settings.database_url:
        env["METALEDGER_DATABASE_URL"] = settings.database_url
    if settings.kafka_bootstrap_servers:
        env["METALEDGER_KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers
    if settings.metrics_port is not None:
        env["METALEDGER_METRICS_PORT"] = str(settings.metrics_port)
    return env


def start(settings: Settings, *arguments: str, log: Path) -> subprocess.Popen[bytes]:
    """`metaledger ARGUMENTS…` with stdout and stderr going to `log`."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "metaledger.api.cli", *arguments],
            cwd=ROOT,
            env=environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def run(
    settings: Settings, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metaledger.api.cli", *arguments],
        cwd=ROOT,
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
