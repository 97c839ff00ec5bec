"""A large import survives a SIGKILL or a SIGTERM of `metaledger serve` in its middle: once the
server is started again the job resumes from its checkpoint, and every line is applied once."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from metaledger.api.settings import Settings
from tests.support.jobs import bcrypt_hash, connection_id_of, finished, import_users, json_file
from tests.support.ports import free_port
from tests.support.serve import ServeProcess

USERS = 40_000
FEED_TAKE = 10_000
# A job whose owner has been silent for 2 s is taken over (kept short for the test).
VARIABLES = {
    "METALEDGER_JOBS_STALE_SECONDS": "2",
    "METALEDGER_IMPORT_MAX_FILE_BYTES": str(64 * 1024 * 1024),
    "METALEDGER_EMBEDDED_WORKERS": "false",
}


def users_file() -> bytes:
    hashed = bcrypt_hash()
    return json_file(
        [
            {
                "email": f"crash-{n}@example.com",
                "password_hash": hashed,
                "app_metadata": {"plan": "free", "n": n, "team": n % 7, "region": "eu", "x": 1},
            }
            for n in range(USERS)
        ]
    )


def created_users(http: httpx.Client) -> list[str]:
    """The user id of every UserCreated in the event log, and fails on any other event."""
    created: list[str] = []
    position = 0
    while True:
        page = http.get("/api/v2/events", params={"from": position, "take": FEED_TAKE}).json()
        if not page["events"]:
            return created
        assert {event["event"] for event in page["events"]} == {"UserCreated"}
        created.extend(event["user_id"] for event in page["events"])
        position = page["next"]


def import_stopped_mid_way(
    settings: Settings, log: Path, stop: Callable[[ServeProcess], None]
) -> None:
    """Imports the users, stops the server with `stop` once a tenth is in, starts it again,
    and checks that every line was applied once."""
    port = free_port()
    with ServeProcess(settings, port, 1, log, VARIABLES) as serve:
        http = httpx.Client(
            base_url=serve.base_url, headers={"Authorization": f"Bearer {serve.token()}"}
        )
        job = import_users(http, users_file(), connection_id_of(http))
        while (seen := http.get(f"/api/v2/jobs/{job['id']}").json())["percentage_done"] < 10:
            time.sleep(0.01)
        stop(serve)
    assert seen["status"] == "processing", "the import finished before the stop"

    with ServeProcess(settings, port, 1, log, VARIABLES) as restarted:
        http = httpx.Client(
            base_url=restarted.base_url, headers={"Authorization": f"Bearer {restarted.token()}"}
        )
        done = finished(http, job["id"])
        created = created_users(http)

    assert done["summary"] == {"inserted": USERS, "updated": 0, "failed": 0, "total": USERS}
    assert len(created) == len(set(created)) == USERS


def test_an_import_killed_mid_way_resumes_and_applies_each_line_once(
    settings: Settings, tmp_path: Path
) -> None:
    import_stopped_mid_way(settings, tmp_path / "serve.log", ServeProcess.kill_group)


def test_an_import_stopped_with_sigterm_mid_way_resumes_rather_than_failing(
    settings: Settings, tmp_path: Path
) -> None:
    def terminate(serve: ServeProcess) -> None:
        assert serve.process is not None
        serve.process.terminate()
        serve.process.wait()

    import_stopped_mid_way(settings, tmp_path / "serve.log", terminate)
