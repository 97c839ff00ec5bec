"""Console page render times for a user with 10,000 events.

Run: .venv/bin/python -m tests.benchmarks.bench_console [--history N] [--users N] [--reads N]
     [--backend sqlite|postgres|both]

Target (issue 16): every page renders in under 100 ms for a user with 10,000 events. Pages are
read one at a time from a real `metaledger serve` process over HTTP by a signed-in client on
the same 2-core machine (latency, not throughput). Baseline, measured in the same run: the
JSON API's plainest read of the same user, `GET /api/v2/users/{id}`; for reference, the JSON
history's first page (`GET /api/v2/users/{id}/history?per_page=50`) too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from metaledger.api.bootstrap import build_profiles
from metaledger.api.settings import Settings
from tests.benchmarks.bench_history import at, percentiles, seed_long_history, seed_users, timed
from tests.benchmarks.harness import admin_token, on_backends, serve
from tests.support.console import CONSOLE_PASSWORD, CONSOLE_USERNAME, sign_in

TARGET_MS = 100.0


def console_pages(user_id: str, history: int) -> dict[str, tuple[str, dict[str, str]]]:
    """The pages timed, by label: path and query."""
    user = f"/console/users/{quote(user_id, safe='')}"
    middle = str(history // 2)
    return {
        "users (search, 25 rows)": ("/console/users", {"q": 'app_metadata.plan:"free"'}),
        "user page": (user, {}),
        "timeline, newest 50": (f"{user}/timeline", {}),
        "timeline, oldest 50": (f"{user}/timeline", {"page": str((history - 1) // 50)}),
        "timeline, event filter": (f"{user}/timeline", {"event": "UserCreated"}),
        "timeline, key filter": (f"{user}/timeline", {"key": "app_metadata.counter"}),
        "time travel, newest": (f"{user}/time-travel", {}),
        "time travel, middle vs first": (
            f"{user}/time-travel",
            {"version": middle, "compare": "1"},
        ),
        "stream (50 events, chart of 1,000)": ("/console/stream", {}),
    }


def bench_pages(base_url: str, user_id: str, history: int, reads: int) -> None:
    headers = {"Authorization": f"Bearer {admin_token(base_url)}"}
    with (
        httpx.Client(base_url=base_url, headers=headers) as api,
        httpx.Client(base_url=base_url, timeout=60) as browser,
    ):
        assert sign_in(browser, CONSOLE_PASSWORD, CONSOLE_USERNAME).status_code == 303
        path = f"/api/v2/users/{user_id}"
        baseline = measure(page_reader(api, path, {}), reads)
        print(f"  {'GET user as JSON (baseline)':<36} {percentiles(baseline)}")
        json_history = measure(page_reader(api, f"{path}/history", {"per_page": "50"}), reads)
        print(f"  {'GET history as JSON, newest 50':<36} {percentiles(json_history)}")
        for label, (page, params) in console_pages(user_id, history).items():
            latencies = measure(page_reader(browser, page, params), reads)
            p95 = at(latencies, 0.95)
            verdict = "under" if p95 < TARGET_MS else "OVER"
            print(
                f"  {label:<36} {percentiles(latencies)}  p95 {p95 / at(baseline, 0.95):5.2f}x"
                f" baseline, {verdict} {TARGET_MS:.0f} ms"
            )


def measure(read: Callable[[int], None], reads: int) -> list[float]:
    read(0)  # warm the connection and the caches
    return timed(reads, read)


def page_reader(browser: httpx.Client, page: str, params: dict[str, str]) -> Callable[[int], None]:
    def read(_: int) -> None:
        response = browser.get(page, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{page} answered {response.status_code}")

    return read


def bench_backend(
    label: str, database_url: str | None, history: int, users: int, reads: int
) -> None:
    print(f"\n== {label} ==")
    with tempfile.TemporaryDirectory(prefix="metaledger-bench-console-") as directory:
        data_dir = Path(directory)
        profiles = build_profiles(Settings(data_dir=data_dir, database_url=database_url))
        started = time.perf_counter()
        user_id = seed_long_history(profiles, history)
        seed_users(profiles, users)
        end = profiles.recorder.max_notification_id() or 0
        print(
            f"  seeded 1 user with {history} events and {users} users of 10 events"
            f" in {time.perf_counter() - started:.1f} s"
        )
        env = {
            "METALEDGER_DATA_DIR": str(data_dir),
            "METALEDGER_CONSOLE": "true",
            "METALEDGER_CONSOLE_ADMIN_USERNAME": CONSOLE_USERNAME,
            "METALEDGER_CONSOLE_ADMIN_PASSWORD": CONSOLE_PASSWORD,
        }
        with serve(database_url, env) as base_url:
            # The users page searches the read model: wait until it has every user.
            token = admin_token(base_url)
            httpx.get(
                f"{base_url}/api/v2/users",
                params={"min_position": end},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).raise_for_status()
            bench_pages(base_url, user_id, history, reads)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--history", type=int, default=10_000, help="events of the long user")
    options.add_argument("--users", type=int, default=2_000, help="other users, 10 events each")
    options.add_argument("--reads", type=int, default=200, help="reads of each page")
    options.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = options.parse_args()
    print(f"console benchmark, started {datetime.now():%Y-%m-%d %H:%M}")
    on_backends(
        args.backend,
        lambda label, url: bench_backend(label, url, args.history, args.users, args.reads),
    )


if __name__ == "__main__":
    main()
