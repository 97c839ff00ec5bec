"""What observing a request costs: the access-log middleware (its line and its metrics) around
the app that answers /healthz, called through ASGI in this process, away from the network and
from the other programs' noise that an HTTP benchmark on a shared machine measures too.

Run: .venv/bin/python -m tests.benchmarks.bench_observability [--requests N] [--rounds N]

Baseline, measured in the same run: the same app without the middleware. The variants run in
turns, round after round, and each keeps its best round. Metrics are kept as `serve` keeps them
(prometheus-client's multiprocess mode, in a fresh directory).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message

from metaledger.api import logs
from metaledger.api.http.access_log import AccessLogMiddleware
from metaledger.api.http.responses import json_response
from metaledger.api.observability.metrics import Metrics, multiprocess_directory


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    return app


async def _call(app: ASGIApp) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {"request_id": "0123456789abcdef0123456789abcdef"},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    await app(scope, receive, send)


async def _round(app: ASGIApp, requests: int) -> float:
    """Microseconds per request over `requests` calls."""
    started = time.perf_counter()
    for _ in range(requests):
        await _call(app)
    return (time.perf_counter() - started) / requests * 1e6


def _logging(formatter: logging.Formatter | None) -> None:
    """Access lines formatted by `formatter` and written to /dev/null; None: no access lines."""
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (lives with the run)
    if formatter is not None:
        handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("metaledger.access").setLevel(
        logging.INFO if formatter is not None else logging.WARNING
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--requests", type=int, default=20_000)
    options.add_argument("--rounds", type=int, default=7)
    args = options.parse_args()
    with multiprocess_directory():
        metrics = Metrics(None)
        bare = bare_app()
        observed = AccessLogMiddleware(bare_app(), metrics)
        variants: list[tuple[str, ASGIApp, Callable[[], None]]] = [
            ("bare app (baseline)", bare, lambda: _logging(None)),
            ("+ metrics, no access line", observed, lambda: _logging(None)),
            ("+ metrics and a JSON access line", observed, lambda: _logging(logs.JsonFormatter())),
            (
                "+ metrics and a text access line",
                observed,
                lambda: _logging(logs.TextFormatter(logs.TEXT_FORMAT)),
            ),
        ]
        best = {name: float("inf") for name, _, _ in variants}
        for _ in range(args.rounds):
            for name, app, set_up in variants:
                set_up()
                best[name] = min(best[name], asyncio.run(_round(app, args.requests)))
    baseline = best["bare app (baseline)"]
    print(f"\n== observing a request: GET /healthz through ASGI, {args.requests} requests a round")
    for name, micros in best.items():
        added = f"  +{micros - baseline:6.1f} µs  {micros / baseline:5.2f}x baseline"
        print(f"{name:<36} {micros:7.1f} µs/request{added if micros != baseline else ''}")


if __name__ == "__main__":
    main()
