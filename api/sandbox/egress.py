"""Outgoing HTTP for tenant code: only to allowlisted hosts, with a timeout and a size cap.

The code's `request`/`fetch`/`axios` calls arrive here as recorded effects; the answer goes
back to the code as `{status, headers, body}` (the body as text).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

# What the code may get back from one response.
MAX_RESPONSE_BYTES = 1024 * 1024
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


class EgressRefused(Exception):
    """A request the sandbox does not send, or that failed; the code's promise rejects."""


class Egress:
    def __init__(self, hosts: frozenset[str], timeout_seconds: float) -> None:
        self.hosts = frozenset(host.lower() for host in hosts)
        self.timeout_seconds = timeout_seconds

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        url = str(request.get("url"))
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or host not in self.hosts:
            raise EgressRefused(f"host not allowed: {host or url}")
        method = str(request.get("method") or "GET").upper()
        if method not in METHODS:
            raise EgressRefused(f"method not allowed: {method}")
        headers = request.get("headers")
        body = request.get("body")
        try:
            with (
                httpx.Client(timeout=self.timeout_seconds, follow_redirects=False) as client,
                client.stream(
                    method,
                    url,
                    headers={str(k): str(v) for k, v in (headers or {}).items()},
                    content=body if isinstance(body, str) else None,
                ) as response,
            ):
                content = b""
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > MAX_RESPONSE_BYTES:
                        raise EgressRefused(f"response from {host} is too large")
        except httpx.HTTPError as error:
            raise EgressRefused(f"request to {host} failed: {type(error).__name__}") from None
        return {
            "status": response.status_code,
            "headers": {name.lower(): value for name, value in response.headers.items()},
            "body": content.decode(response.encoding or "utf-8", errors="replace"),
        }
