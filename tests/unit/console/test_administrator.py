"""The console administrator: generated once and printed once, only its hash kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metaledger.api.auth.passwords import Passwords
from metaledger.api.http.console.administrator import (
    ADMINISTRATOR_FILE,
    administrator,
    console_source,
)

PASSWORDS = Passwords(time_cost=1, memory_cost_kib=1024, parallelism=1)


def printed_password(output: str) -> str:
    return output.split("password: ", 1)[1].split()[0]


def test_a_new_administrator_is_printed_once_and_only_its_hash_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = administrator(tmp_path, None, None, PASSWORDS)
    password = printed_password(capsys.readouterr().err)
    kept = (tmp_path / ADMINISTRATOR_FILE).read_text()
    assert password not in kept
    assert json.loads(kept)["username"] == first.username == "admin"
    assert PASSWORDS.verify(first.password_hash, password)
    again = administrator(tmp_path, None, None, PASSWORDS)
    assert again == first
    assert capsys.readouterr().err == ""


def test_configured_credentials_take_over_and_write_nothing(tmp_path: Path) -> None:
    configured = administrator(tmp_path, "ops", "Ops-password-1", PASSWORDS)
    assert configured.username == "ops"
    assert PASSWORDS.verify(configured.password_hash, "Ops-password-1")
    assert not (tmp_path / ADMINISTRATOR_FILE).exists()


def test_the_kept_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    administrator(tmp_path, None, None, PASSWORDS)
    assert (tmp_path / ADMINISTRATOR_FILE).stat().st_mode & 0o077 == 0


def test_the_start_up_message_says_where_the_console_is_and_whose_administrator(
    tmp_path: Path,
) -> None:
    base = "http://127.0.0.1:8000"
    assert console_source(tmp_path, False, None, None, base).startswith("console off")
    assert console_source(tmp_path, True, None, None, base) == (
        f"console at {base}/console (administrator from {tmp_path / ADMINISTRATOR_FILE})"
    )
    assert "administrator ops from METALEDGER_CONSOLE_ADMIN_USERNAME" in console_source(
        tmp_path, True, "ops", "secret-1", base
    )
