"""`metaledger serve` with the console and several HTTP processes: one administrator made and
printed once, and a session valid in every process."""

from __future__ import annotations

from pathlib import Path

import httpx

from metaledger.api.http.console.session import COOKIE
from metaledger.api.settings import Settings
from tests.support.console import csrf_of
from tests.support.ports import free_port
from tests.support.serve import ServeProcess

GENERATED = "generated the console administrator"
REQUESTS = 20  # each on a connection of its own, so the kernel spreads them over the processes


def test_several_http_processes_make_one_administrator_and_share_its_sessions(
    tmp_path: Path,
) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    variables = {"METALEDGER_CONSOLE": "true", "METALEDGER_ARGON2_MEMORY_COST_KIB": "1024"}
    with ServeProcess(Settings(data_dir=tmp_path / "data"), port, 2, log, variables) as serve:
        output = log.read_text()
        assert output.count(GENERATED) == 1, output
        password = output.split("password: ", 1)[1].split()[0]
        with httpx.Client(base_url=serve.base_url) as browser:
            form = browser.get("/console/login")
            signed_in = browser.post(
                "/console/login",
                data={"username": "admin", "password": password, "csrf_token": csrf_of(form.text)},
            )
            assert signed_in.status_code == 303
            session = browser.cookies[COOKIE]
        statuses = {
            httpx.get(f"{serve.base_url}/console/users", cookies={COOKIE: session}).status_code
            for _ in range(REQUESTS)
        }
        assert statuses == {200}
        assert f"console at http://127.0.0.1:{port}/console" in output
