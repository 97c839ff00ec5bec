"""An application's pages for the browser SDK tests, served from an origin of their own: the
test pages, the SDK bundles built from npm (no CDN), and `/config.js` naming the API."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

SDKS = Path(__file__).parent.parent / "e2e" / "browser_sdks"
# What the pages load, by URL path.
FILES = {
    "/spa.html": SDKS / "pages" / "spa.html",
    "/lock.html": SDKS / "pages" / "lock.html",
    "/auth0-spa-js.js": SDKS
    / "node_modules"
    / "@auth0"
    / "auth0-spa-js"
    / "dist"
    / "auth0-spa-js.production.js",
    "/lock.js": SDKS / "dist" / "lock.js",
}


class _Pages(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, config: dict[str, Any], **kwargs: Any) -> None:
        self.config = config
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/config.js":
            body = f"window.CONFIG = {orjson.dumps(self.config).decode()};".encode()
            kind = "application/javascript"
        elif path in FILES:
            body = FILES[path].read_bytes()
            kind = "text/html" if path.endswith(".html") else "application/javascript"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test's output is for failures."""


class AppPages:
    def __init__(self, port: int, config: dict[str, Any]) -> None:
        self.origin = f"http://127.0.0.1:{port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Pages, config=config))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AppPages:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)
