"""Client-credentials tokens from a running server."""

from __future__ import annotations

import httpx


def client_credentials_token(
    base_url: str, client_id: str, client_secret: str, audience: str, scope: str | None = None
) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": audience,
    }
    if scope is not None:
        form["scope"] = scope
    response = httpx.post(f"{base_url}/oauth/token", data=form)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token
