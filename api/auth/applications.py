"""Applications defined by configuration (`METALEDGER_APPLICATIONS`, a JSON list).

Each entry: `client_id` (required), `client_secret` (absent: a public application),
`name`, `app_type`, `grant_types` (any of client_credentials, password,
http://auth0.com/oauth/grant-type/password-realm, authorization_code, implicit and
refresh_token), `scopes` (management scopes for client credentials), `connections` (the database
connections its users sign up and log in with; all configured connections when absent), the URL
lists `callbacks`, `allowed_logout_urls`, `web_origins` and `allowed_origins`, and
`client_metadata` (string values), as in Auth0's Management API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from metaledger.api.auth.clients import (
    APP_TYPES,
    CLIENT_CREDENTIALS,
    GRANT_TYPES,
    MANAGEMENT_SCOPES,
    Client,
)

FIELDS = frozenset(
    {
        "client_id",
        "client_secret",
        "name",
        "app_type",
        "grant_types",
        "scopes",
        "connections",
        "client_metadata",
        "callbacks",
        "allowed_logout_urls",
        "web_origins",
        "allowed_origins",
    }
)


class ApplicationConfigError(ValueError):
    """The applications configuration cannot be used; the service refuses to start."""


def parse_applications(text: str | None, connections: frozenset[str]) -> tuple[Client, ...]:
    if not text:
        return ()
    try:
        entries = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ApplicationConfigError(f"METALEDGER_APPLICATIONS is not JSON: {error}") from None
    if not isinstance(entries, list):
        raise ApplicationConfigError("METALEDGER_APPLICATIONS must be a JSON list of objects")
    return tuple(_application(entry, connections) for entry in entries)


def _application(entry: Any, known_connections: frozenset[str]) -> Client:
    if not isinstance(entry, dict):
        raise ApplicationConfigError("each application must be a JSON object")
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ApplicationConfigError("each application needs a client_id")

    def problem(text: str) -> ApplicationConfigError:
        return ApplicationConfigError(f"application {client_id!r}: {text}")

    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise problem(f"unknown fields {', '.join(unknown)}")
    secret = entry.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        raise problem("client_secret must be a string of at least 16 characters")
    grants = _names(entry, "grant_types", GRANT_TYPES, problem, default=frozenset())
    if CLIENT_CREDENTIALS in grants and secret is None:
        raise problem("client_credentials needs a client_secret")
    scopes = _names(entry, "scopes", frozenset(MANAGEMENT_SCOPES), problem, default=frozenset())
    connections = _names(entry, "connections", known_connections, problem, known_connections)
    name = entry.get("name", client_id)
    if not isinstance(name, str):
        raise problem("name must be a string")
    app_type = entry.get("app_type")
    if app_type is not None and app_type not in APP_TYPES:
        raise problem(f"app_type must be one of {', '.join(sorted(APP_TYPES))}")
    metadata = entry.get("client_metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(value, str) for value in metadata.values()
    ):
        raise problem("client_metadata must be an object of string values")
    return Client(
        client_id=client_id,
        client_secret=secret,
        name=name,
        grants=grants,
        scopes=tuple(scope for scope in MANAGEMENT_SCOPES if scope in scopes),
        connections=connections,
        app_type=app_type,
        callbacks=_strings(entry, "callbacks", problem),
        allowed_logout_urls=_strings(entry, "allowed_logout_urls", problem),
        web_origins=_strings(entry, "web_origins", problem),
        allowed_origins=_strings(entry, "allowed_origins", problem),
        client_metadata=tuple(sorted(metadata.items())),
    )


def _strings(
    entry: dict[str, Any], field: str, problem: Callable[[str], ApplicationConfigError]
) -> tuple[str, ...]:
    values = entry.get(field, [])
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise problem(f"{field} must be a list of strings")
    return tuple(values)


def _names(
    entry: dict[str, Any],
    field: str,
    allowed: frozenset[str],
    problem: Callable[[str], ApplicationConfigError],
    default: frozenset[str],
) -> frozenset[str]:
    if field not in entry:
        return default
    values = entry[field]
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise problem(f"{field} must be a list of strings")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise problem(f"unknown {field}: {', '.join(unknown)}")
    return frozenset(values)
