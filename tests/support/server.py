"""The real HTTP server (uvicorn) on a free port, in a background thread."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from metaledger.api.bootstrap import Container
from metaledger.api.http.app import create_app
from tests.support.ports import free_port


class RunningServer:
    def __init__(self, container: Container, port: int | None = None) -> None:
        self.container = container
        self.port = port or free_port()
        config = uvicorn.Config(
            create_app(container), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
