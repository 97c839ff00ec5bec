"""Settings, read once from `METALEDGER_*` environment variables (pydantic-settings: typed, and a
bad value is refused naming its variable and the value)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from metaledger.api.auth.applications import parse_applications
from metaledger.api.auth.claims import ClaimMapping, parse_claims
from metaledger.api.auth.clients import Client
from metaledger.domain.profiles import DEFAULT_CONNECTION
from metaledger.domain.storage import PostgresDatabase, StoreLocation, store_location

PREFIX = "METALEDGER_"
SIGNING_KEY = f"{PREFIX}SIGNING_KEY"
LOG_FORMATS = ("auto", "text", "json")

# A count or duration below 1 would stop the service from serving anything.
Positive = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    data_dir: Path = Path("var")
    database_url: str | None = None
    # The token issuer; the Management API audience is `<issuer>api/v2/`. Unset: this server.
    issuer: Annotated[str, Field(validate_default=True)] = ""
    admin_client_id: str | None = None
    admin_client_secret: str | None = None
    # The PEM of the RS256 key that signs tokens (METALEDGER_SIGNING_KEY).
    signing_key_pem: Annotated[str | None, Field(validation_alias=SIGNING_KEY)] = None
    token_lifetime_seconds: Positive = 86400
    # Comma-separated database connection names.
    connections: Annotated[frozenset[str], NoDecode] = frozenset({DEFAULT_CONNECTION})
    metadata_max_bytes: Positive = 16 * 1024
    metadata_max_depth: Positive = 10
    max_body_bytes: Positive = 1024 * 1024
    aggregate_cache_size: Annotated[int, Field(ge=0)] = 10_000
    # OWASP's baseline for argon2id (19 MiB, 2 passes, 1 lane): tens of milliseconds a hash,
    # so a 2-core server still takes dozens of logins a second.
    argon2_time_cost: Positive = 2
    argon2_memory_cost_kib: Positive = 19 * 1024
    argon2_parallelism: Positive = 1
    # Authentication API: applications beside the admin client (JSON), the connection of the
    # plain `password` grant, password policy, brute-force protection, claims copied from
    # metadata (JSON), and an optional external issuer whose tokens the Management API accepts.
    applications: Annotated[tuple[Client, ...], NoDecode, Field(validate_default=True)] = ()
    default_directory: str = DEFAULT_CONNECTION
    password_min_length: Positive = 8
    password_character_classes: Annotated[int, Field(ge=1, le=4)] = 3
    brute_force_max_attempts: Positive = 10
    brute_force_block_seconds: Positive = 900
    # Suspicious IP throttling, as Auth0's default: 100 failed logins a day from one IP,
    # whatever the username, then one more every 864 s.
    ip_throttle_max_attempts: Positive = 100
    ip_throttle_window_seconds: Positive = 86400
    claims: Annotated[tuple[ClaimMapping, ...], NoDecode] = ()
    external_issuer: str | None = None
    external_jwks_url: str | None = None
    external_audience: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_topic: str = "metaledger.users"
    # Used when the relay creates the topic (and consumers their dead-letter topics).
    kafka_partitions: Positive = 3
    kafka_replication_factor: Positive = 1
    # DELETE /api/v2/users/{id} without `erase=`: also destroy the user's personal data?
    erase_on_delete: bool = False
    # The web console at /console (off unless set; `make run` turns it on) and its administrator:
    # from these two settings, or generated on first start (the password printed once, its hash
    # kept in the data dir).
    console: bool = False
    console_admin_username: str | None = None
    console_admin_password: str | None = None
    # Log records the API writes directly (failed logins, failed API calls: they carry IPs)
    # are kept this many days; the event history, and the records made from it, stay.
    log_retention_days: Positive = 30
    # `serve` also runs the background workers (search projector, relay) in its own process;
    # false when they run as processes of their own (`metaledger project`, `metaledger relay`).
    embedded_workers: bool = True
    # HTTP processes `serve` starts; with more than one, the background workers run in the
    # process that supervises them. Unset: one per core on PostgreSQL, one on SQLite (whose
    # writes take one file lock in turn: `http_processes`).
    http_workers: Positive | None = None
    # What one client may hold of an HTTP process: a request's head (request line and headers)
    # must arrive within `header_timeout_seconds` of its first byte (of the connection's opening
    # for the first request) and be at most `max_header_bytes` long; its body must arrive within
    # `body_timeout_seconds` of the head; a process keeps at most `max_connections` connections.
    header_timeout_seconds: Positive = 10
    body_timeout_seconds: Positive = 30
    max_header_bytes: Positive = 64 * 1024
    max_connections: Positive = 1000
    # A stop (SIGTERM, SIGINT) ends `serve` within this many seconds whatever the store's state;
    # requests in progress get half of it to finish.
    shutdown_timeout_seconds: Positive = 10
    # Logging: a level (DEBUG, INFO, WARNING, ERROR) and a format, `text`, `json` (one object
    # a line, for log collectors) or `auto` (text on a terminal, JSON otherwise).
    log_level: str = "INFO"
    # One line per request (method, path, status, duration, request id, actor); off, only the
    # requests that fail on the server's side (5xx) are logged.
    access_log: bool = True
    # Tenant code (Rules and Actions): worker processes, each context's memory cap, the
    # deadline of a whole login pipeline, and the hosts its outgoing HTTP may reach.
    sandbox_workers: Positive = 2
    sandbox_memory_mib: Positive = 64
    sandbox_deadline_seconds: Annotated[float, Field(gt=0)] = 20.0
    sandbox_egress_hosts: Annotated[frozenset[str], NoDecode] = frozenset()
    sandbox_egress_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # A custom-database script's queries to its legacy PostgreSQL (statement timeout).
    custom_db_query_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Bulk jobs: the largest import file (Auth0's 500 KB by default; a self-hosted store may
    # take far more), jobs run at once per process, how long a job's owner may go silent
    # before another process resumes it, and how long an export file stays downloadable.
    import_max_file_bytes: Positive = 500 * 1024
    jobs_concurrency: Positive = 1
    jobs_stale_seconds: Positive = 30
    export_expiry_seconds: Positive = 3600
    # An export of the present waits this long for the search read model to reach the log's
    # end (it reads the users from there), then replays the log instead; 0 waits not at all.
    export_read_model_wait_seconds: Annotated[float, Field(ge=0)] = 30.0
    log_format: str = "auto"
    # /metrics on a port of its own (Prometheus' text format): the host it binds and the port;
    # unset, `serve` uses 9464 and the other commands serve no metrics; 0 turns them off.
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int | None, Field(ge=0, le=65535)] = None
    # /readyz says not ready when the search read model or the relay is more than this many
    # events behind the event log.
    ready_max_lag_events: Positive = 1000
    # Several nodes on one PostgreSQL: each refuses to start without the secrets they must share
    # (METALEDGER_SIGNING_KEY, the admin client) rather than generate its own. `node_name`
    # names this node in the leases, /readyz and the metrics (unset: host:port/pid).
    cluster: bool = False
    node_name: str | None = None
    # During a signing key rotation: the previous key's public PEM, still in the JWKS and still
    # accepted, so that tokens it signed stay valid until they expire.
    previous_signing_public_key: str | None = None

    @field_validator("issuer")
    @classmethod
    def _issuer_ends_with_a_slash(cls, issuer: str, info: ValidationInfo) -> str:
        if not issuer:
            return f"http://{info.data.get('host')}:{info.data.get('port')}/"
        return issuer if issuer.endswith("/") else issuer + "/"

    @field_validator("connections", "sandbox_egress_hosts", mode="before")
    @classmethod
    def _connections_from_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("applications", mode="before")
    @classmethod
    def _applications_from_json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            connections = info.data.get("connections", frozenset({DEFAULT_CONNECTION}))
            return parse_applications(value, connections)
        return value

    @field_validator("claims", mode="before")
    @classmethod
    def _claims_from_json(cls, value: Any) -> Any:
        return parse_claims(value) if isinstance(value, str) else value

    @field_validator("log_format")
    @classmethod
    def _a_known_log_format(cls, value: str) -> str:
        if value.lower() not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
        return value.lower()

    @cached_property
    def store(self) -> StoreLocation:
        """Where every store lives: parsed from `database_url` and `data_dir`, once."""
        return store_location(self.database_url, self.data_dir)

    @property
    def http_processes(self) -> int:
        """How many HTTP processes `serve` starts: `http_workers`, or its default."""
        if self.http_workers is not None:
            return self.http_workers
        return (os.cpu_count() or 1) if isinstance(self.store, PostgresDatabase) else 1

    @property
    def store_is_local(self) -> bool:
        """SQLite files beside the process: a read is a local file read, not a server round
        trip."""
        return not isinstance(self.store, PostgresDatabase)

    @property
    def management_audience(self) -> str:
        return f"{self.issuer}api/v2/"

    def replace(self, **changes: Any) -> Settings:
        """These settings with `changes`, validated again (the store follows)."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of the process's environment (or of `environ`, for tests)."""
        if environ is None:
            return cls()
        given = {name: environ.get(variable(name)) for name in cls.model_fields}
        return cls.model_validate({name: value for name, value in given.items() if value})


def variable(name: str) -> str:
    """The environment variable of the setting `name`."""
    return SIGNING_KEY if name == "signing_key_pem" else PREFIX + name.upper()


def describe_error(error: ValidationError) -> str:
    """One line per refused setting, naming its variable and the value given."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "settings"
        given = problem.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int) else ""
        lines.append(f"{variable(name)}: {problem['msg']}{shown}")
    return "\n".join(lines)
