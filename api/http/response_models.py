"""The shapes of what the API answers, for its OpenAPI document (the routes render their bodies
with orjson; these models describe them, and the document's tests hold the two together)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Auth0Error(BaseModel):
    """Every Management API refusal."""

    statusCode: int  # noqa: N815 (Auth0's field names)
    error: str
    message: str
    errorCode: str | None = None  # noqa: N815


class OAuthError(BaseModel):
    """A refusal of the Authentication API (`/oauth/token`, `/userinfo`)."""

    error: str
    error_description: str


class Identity(BaseModel):
    connection: str
    user_id: str
    provider: str
    isSocial: bool  # noqa: N815


class User(BaseModel):
    """An Auth0 user object (`fields` may leave attributes out)."""

    model_config = ConfigDict(extra="allow")

    user_id: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    username: str | None = None
    name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    identities: list[Identity] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_login: str | None = None
    last_ip: str | None = None
    logins_count: int | None = None
    blocked: bool | None = None


class UserPage(BaseModel):
    """A page of a search with `include_totals=true`."""

    users: list[User]
    start: int
    limit: int
    length: int
    total: int


class UserCheckpoint(BaseModel):
    """A page of a search paged by checkpoints (`from`, `take`); `next` is absent at the end."""

    users: list[User]
    next: int | None = None


class HistoryEntry(BaseModel):
    """One event of a user's history."""

    version: int
    event: str
    timestamp: str
    actor: dict[str, Any] | None
    patch: dict[str, Any] | None
    changes: dict[str, Any] | None
    erased: bool


class HistoryPage(BaseModel):
    """A page of history with `include_totals=true`."""

    events: list[HistoryEntry]
    start: int
    limit: int
    length: int
    total: int


class HistoryCheckpoint(BaseModel):
    """A page of history paged by checkpoints; `next` is absent at the oldest event."""

    events: list[HistoryEntry]
    next: int | None = None


class FeedEntry(HistoryEntry):
    position: int
    user_id: str | None


class FeedPage(BaseModel):
    events: list[FeedEntry]
    next: int = Field(description="The position to ask from next time.")


class LogRecord(BaseModel):
    """An Auth0 log record (`fields` may leave attributes out)."""

    model_config = ConfigDict(extra="allow")

    log_id: str | None = None
    date: str | None = None
    type: str | None = None
    description: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    connection: str | None = None
    details: dict[str, Any] | None = None


class LogPage(BaseModel):
    """A page of log records with `include_totals=true`."""

    logs: list[LogRecord]
    start: int
    limit: int
    length: int
    total: int


class Change(BaseModel):
    """One key one event changed."""

    user_id: str
    key: str
    old: Any
    new: Any
    event: str
    version: int
    position: int
    date: str
    actor: dict[str, Any]
    client_id: str | None
    request_id: str | None
    ip: str | None


class ChangePage(BaseModel):
    """A page of changes; `next` (for `before`) is absent at the oldest."""

    changes: list[Change]
    next: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str | None = None
    id_token: str | None = None
    refresh_token: str | None = None


class LoginTicket(BaseModel):
    """Lock's cross-origin login: a single-use ticket that /authorize redeems."""

    login_ticket: str
    co_verifier: str
    co_id: str


class Claims(BaseModel):
    """OpenID Connect claims of the token's user, as its scopes allow."""

    model_config = ConfigDict(extra="allow")

    sub: str


class SignedUp(BaseModel):
    model_config = ConfigDict(extra="allow")

    email: str
    email_verified: bool


class KeySet(BaseModel):
    keys: list[dict[str, Any]]


class Discovery(BaseModel):
    model_config = ConfigDict(extra="allow")

    issuer: str
    jwks_uri: str
    token_endpoint: str


class Health(BaseModel):
    status: str
    position: int | None = None


class PartState(BaseModel):
    """One part of the service in `/readyz`: ready, lagging or unavailable."""

    status: str
    position: int | None = None
    lag: int | None = None  # events of the log it has not applied or published yet


class LeaseHolder(BaseModel):
    """Who runs one background worker of a cluster (`projector`, `relay`)."""

    holder: str
    generation: int
    live: bool
    this_node: bool


class ClusterState(BaseModel):
    """On PostgreSQL: this node's name and the holder of each worker's lease."""

    node: str
    status: str | None = None  # `unavailable` when the leases could not be read
    leases: dict[str, LeaseHolder] = {}


class Readiness(Health):
    """`/readyz`: each part's state (store, search, and relay when publishing is on)."""

    checks: dict[str, PartState]
    cluster: ClusterState | None = None
