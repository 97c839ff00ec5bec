"""`metaledger import` and `metaledger export` as a person runs them, on both stores."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

from metaledger.api.bootstrap import open_profiles
from metaledger.api.settings import Settings
from metaledger.domain.history import HistoryFilter, UserHistory
from tests.support.jobs import CONNECTION, bcrypt_hash, json_file, ndjson_rows
from tests.support.processes import run

USERS = [
    {"email": "ivy@example.com", "password_hash": bcrypt_hash(), "app_metadata": {"plan": "pro"}},
    {"email": "jon@example.com", "user_metadata": {"lang": "fr"}},
]


def test_import_prints_a_summary_and_exits_zero_when_every_line_applied(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file(USERS))

    result = run(settings, "import", str(path), "--connection", CONNECTION)

    assert result.returncode == 0, result.stderr
    assert "2 inserted, 0 updated, 0 failed of 2 users" in result.stderr


def test_import_exits_non_zero_and_names_the_failed_lines(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file([*USERS, {"email": "ivy@example.com"}]))

    result = run(settings, "import", str(path), "--connection", CONNECTION)

    assert result.returncode == 1
    assert "line 3: CONFLICT" in result.stderr


def test_an_imported_users_events_name_the_cli_job(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file(USERS[:1]))
    result = run(settings, "import", str(path), "--connection", CONNECTION)
    [job_id] = re.findall(r"\bjob_[A-Za-z0-9]{16}\b", result.stderr)

    profiles = open_profiles(settings)
    try:
        [user_id] = profiles.email_index.user_ids_by_email("ivy@example.com")
        [entry] = UserHistory(profiles).page(user_id, HistoryFilter(), 0, 10).entries
    finally:
        profiles.close()
    assert entry.actor is not None
    assert (entry.actor["kind"], entry.actor["id"]) == ("import", job_id)


def test_export_writes_csv_with_named_columns(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file(USERS))
    run(settings, "import", str(path), "--connection", CONNECTION)
    out = tmp_path / "users.csv"

    result = run(
        settings, "export", str(out), "--format", "csv", "--fields", "email,app_metadata.plan=plan"
    )

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(rows, key=lambda row: row["email"]) == [
        {"email": "ivy@example.com", "plan": "pro"},
        {"email": "jon@example.com", "plan": ""},
    ]


def test_export_to_a_gz_file_writes_gzipped_json_lines(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file(USERS))
    run(settings, "import", str(path), "--connection", CONNECTION)
    out = tmp_path / "users.json.gz"

    assert run(settings, "export", str(out)).returncode == 0

    rows = ndjson_rows(gzip.decompress(out.read_bytes()))
    assert sorted(row["email"] for row in rows) == ["ivy@example.com", "jon@example.com"]


def test_import_with_upsert_overwrites_existing_users_metadata(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "users.json"
    path.write_bytes(json_file(USERS))
    run(settings, "import", str(path), "--connection", CONNECTION)
    path.write_bytes(json_file([{"email": "jon@example.com", "user_metadata": {"lang": "de"}}]))

    result = run(settings, "import", str(path), "--connection", CONNECTION, "--upsert")

    assert result.returncode == 0, result.stderr
    assert "0 inserted, 1 updated, 0 failed" in result.stderr
