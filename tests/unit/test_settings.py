"""Settings from METALEDGER_* variables: typed, with the defaults that run everything embedded,
and a bad value refused naming its variable and the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from metaledger.api.settings import Settings, describe_error
from metaledger.domain.storage import PostgresDatabase, SQLiteFiles


def test_without_variables_everything_runs_embedded_on_sqlite_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.store == SQLiteFiles(Path("var"))
    assert settings.issuer == "http://127.0.0.1:8000/"
    assert settings.management_audience == "http://127.0.0.1:8000/api/v2/"


def test_variables_are_read_with_their_types() -> None:
    settings = Settings.from_env(
        {
            "METALEDGER_PORT": "9000",
            "METALEDGER_CONNECTIONS": "Users, Partners",
            "METALEDGER_EMBEDDED_WORKERS": "off",
            "METALEDGER_ERASE_ON_DELETE": "yes",
            "METALEDGER_DATABASE_URL": "postgresql://app:pw@db:5433/profiles?schema=ml",
            "METALEDGER_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----",
            "METALEDGER_LOG_FORMAT": "JSON",
        }
    )
    assert (settings.port, settings.issuer) == (9000, "http://127.0.0.1:9000/")
    assert settings.connections == frozenset({"Users", "Partners"})
    assert (settings.embedded_workers, settings.erase_on_delete) == (False, True)
    assert isinstance(settings.store, PostgresDatabase)
    assert (settings.store.port, settings.store.schema) == (5433, "ml")
    assert settings.signing_key_pem == "-----BEGIN PRIVATE KEY-----"
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("METALEDGER_PORT", "eighty", "METALEDGER_PORT: Input should be a valid integer"),
        ("METALEDGER_EMBEDDED_WORKERS", "maybe", "METALEDGER_EMBEDDED_WORKERS: Input should be"),
        ("METALEDGER_LOG_FORMAT", "xml", "METALEDGER_LOG_FORMAT: Value error, must be one of"),
        ("METALEDGER_APPLICATIONS", "[not json", "METALEDGER_APPLICATIONS: Value error"),
        ("METALEDGER_METRICS_PORT", "70000", "METALEDGER_METRICS_PORT: Input should be less"),
        ("METALEDGER_READY_MAX_LAG_EVENTS", "0", "METALEDGER_READY_MAX_LAG_EVENTS: Input should"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable_and_the_value(
    variable: str, value: str, said: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({variable: value})
    described = describe_error(refused.value)
    assert described.startswith(said)
    assert repr(value) in described


def test_logs_pick_their_format_by_the_terminal_and_metrics_their_port_by_the_command() -> None:
    settings = Settings.from_env({})
    assert settings.log_format == "auto"
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", None)
    assert Settings.from_env({"METALEDGER_METRICS_PORT": "0"}).metrics_port == 0


def test_a_replaced_setting_is_validated_again_and_moves_the_store() -> None:
    settings = Settings(data_dir=Path("here"))
    moved = settings.replace(data_dir=Path("there"))
    assert (settings.store, moved.store) == (SQLiteFiles(Path("here")), SQLiteFiles(Path("there")))
    with pytest.raises(ValidationError):
        settings.replace(http_workers=0)


def test_the_command_stops_on_refused_settings_and_says_which() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "metaledger.api.cli", "history", "auth0|x"],
        env={"METALEDGER_PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "METALEDGER_PORT: Input should be a valid integer" in run.stderr
    assert "'eighty'" in run.stderr


def test_a_claim_named_like_its_bucket_is_accepted_and_a_reserved_name_refused() -> None:
    settings = Settings.from_env({"METALEDGER_CLAIMS": '{"user_metadata": "user_metadata"}'})
    assert [(c.claim, c.bucket, c.key) for c in settings.claims] == [
        ("user_metadata", "user_metadata", None)
    ]
    with pytest.raises(ValidationError, match="'aud' is reserved by OpenID Connect"):
        Settings.from_env({"METALEDGER_CLAIMS": '{"aud": "user_metadata"}'})


def test_serve_starts_one_http_process_per_core_on_postgresql_by_default() -> None:
    settings = Settings(database_url="postgresql://metaledger@db:5432/metaledger")
    assert settings.http_processes == (os.cpu_count() or 1)


def test_serve_starts_one_http_process_on_sqlite_by_default() -> None:
    assert Settings(data_dir=Path("here")).http_processes == 1


def test_a_set_number_of_http_processes_is_kept_on_either_store() -> None:
    on_postgres = Settings(
        database_url="postgresql://metaledger@db:5432/metaledger", http_workers=3
    )
    assert (on_postgres.http_processes, Settings(http_workers=2).http_processes) == (3, 2)
