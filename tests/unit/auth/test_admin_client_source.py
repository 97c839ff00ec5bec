"""The start-up message names the active admin client and where it comes from."""

from __future__ import annotations

from pathlib import Path

from metaledger.api.auth.clients import ADMIN_CLIENT_FILE, admin_client, admin_client_source

CONNECTIONS = frozenset({"Username-Password-Authentication"})


def test_generated_credentials_are_named_with_the_file_that_keeps_them(tmp_path: Path) -> None:
    generated = admin_client(tmp_path, None, None, CONNECTIONS)
    assert admin_client_source(tmp_path, None, None) == (
        f"admin client {generated.client_id} from {tmp_path / ADMIN_CLIENT_FILE}"
    )


def test_configured_credentials_say_the_generated_ones_no_longer_work(tmp_path: Path) -> None:
    admin_client(tmp_path, None, None, CONNECTIONS)
    source = admin_client_source(tmp_path, "ops-admin", "a-secret")
    assert source.startswith("admin client ops-admin from METALEDGER_ADMIN_CLIENT_ID")
    assert f"the credentials in {tmp_path / ADMIN_CLIENT_FILE} are not used" in source
