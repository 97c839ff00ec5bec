"""Settings, read once from `METALEDGER_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from metaledger.api.auth.applications import parse_applications
from metaledger.api.auth.claims import ClaimMapping, parse_claims
from metaledger.api.auth.clients import Client
from metaledger.domain.profiles import DEFAULT_CONNECTION
from metaledger.domain.storage import StoreLocation, store_location

PREFIX = "METALEDGER_"
# Settings below 1 would stop the service from serving anything.
POSITIVE = (
    "http_workers",
    "header_timeout_seconds",
    "body_timeout_seconds",
    "max_header_bytes",
    "max_connections",
    "shutdown_timeout_seconds",
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str | None = None
    issuer: str = ""
    admin_client_id: str | None = None
    admin_client_secret: str | None = None
    signing_key_pem: str | None = None
    token_lifetime_seconds: int = 86400
    connections: frozenset[str] = field(default_factory=lambda: frozenset({DEFAULT_CONNECTION}))
    metadata_max_bytes: int = 16 * 1024
    metadata_max_depth: int = 10
    max_body_bytes: int = 1024 * 1024
    aggregate_cache_size: int = 10_000
    # OWASP's baseline for argon2id (19 MiB, 2 passes, 1 lane): tens of milliseconds a hash,
    # so a 2-core server still takes dozens of logins a second.
    argon2_time_cost: int = 2
    argon2_memory_cost_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    # Authentication API: applications beside the admin client, the connection of the plain
    # `password` grant, password policy, brute-force protection, claims copied from metadata,
    # and an optional external issuer whose tokens the Management API also accepts.
    applications: tuple[Client, ...] = ()
    default_directory: str = DEFAULT_CONNECTION
    password_min_length: int = 8
    password_character_classes: int = 3
    brute_force_max_attempts: int = 10
    brute_force_block_seconds: int = 900
    # Suspicious IP throttling, as Auth0's default: 100 failed logins a day from one IP,
    # whatever the username, then one more every 864 s.
    ip_throttle_max_attempts: int = 100
    ip_throttle_window_seconds: int = 86400
    claims: tuple[ClaimMapping, ...] = ()
    external_issuer: str | None = None
    external_jwks_url: str | None = None
    external_audience: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_topic: str = "metaledger.users"
    # Used when the relay creates the topic (and consumers their dead-letter topics).
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    # DELETE /api/v2/users/{id} without `erase=`: also destroy the user's personal data?
    erase_on_delete: bool = False
    # `serve` also runs the background workers (search projector, relay) in its own process;
    # false when they run as processes of their own (`metaledger project`, `metaledger relay`).
    embedded_workers: bool = True
    # HTTP processes `serve` starts; with more than one, the background workers run in the
    # process that supervises them.
    http_workers: int = 1
    # What one client may hold of an HTTP process: a request's head (request line and headers)
    # must arrive within `header_timeout_seconds` of its first byte (of the connection's opening
    # for the first request) and be at most `max_header_bytes` long; its body must arrive within
    # `body_timeout_seconds` of the head; a process keeps at most `max_connections` connections.
    header_timeout_seconds: int = 10
    body_timeout_seconds: int = 30
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1000
    # A stop (SIGTERM, SIGINT) ends `serve` within this many seconds whatever the store's state;
    # requests in progress get half of it to finish.
    shutdown_timeout_seconds: int = 10
    # Logging: a level (DEBUG, INFO, WARNING, ERROR) and a format, `text` or `json` (one object
    # a line, for log collectors).
    log_level: str = "INFO"
    log_format: str = "text"

    # Where every store lives: parsed from `database_url` and `data_dir`, once.
    store: StoreLocation = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "store", store_location(self.database_url, self.data_dir))
        for name in POSITIVE:
            if getattr(self, name) < 1:
                raise ValueError(f"{PREFIX}{name.upper()} must be 1 or more")
        if not self.issuer:
            object.__setattr__(self, "issuer", f"http://{self.host}:{self.port}/")
        elif not self.issuer.endswith("/"):
            object.__setattr__(self, "issuer", self.issuer + "/")

    @property
    def management_audience(self) -> str:
        return f"{self.issuer}api/v2/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value else None

        def integer(name: str, default: int) -> int:
            value = get(name)
            return int(value) if value is not None else default

        listed = get("CONNECTIONS")
        connections = (
            frozenset(name.strip() for name in listed.split(",") if name.strip())
            if listed
            else frozenset({DEFAULT_CONNECTION})
        )
        return cls(
            host=get("HOST") or cls.host,
            port=integer("PORT", cls.port),
            data_dir=Path(get("DATA_DIR") or cls.data_dir),
            database_url=get("DATABASE_URL"),
            issuer=get("ISSUER") or "",
            admin_client_id=get("ADMIN_CLIENT_ID"),
            admin_client_secret=get("ADMIN_CLIENT_SECRET"),
            signing_key_pem=get("SIGNING_KEY"),
            token_lifetime_seconds=integer("TOKEN_LIFETIME_SECONDS", cls.token_lifetime_seconds),
            connections=connections,
            metadata_max_bytes=integer("METADATA_MAX_BYTES", cls.metadata_max_bytes),
            metadata_max_depth=integer("METADATA_MAX_DEPTH", cls.metadata_max_depth),
            max_body_bytes=integer("MAX_BODY_BYTES", cls.max_body_bytes),
            aggregate_cache_size=integer("AGGREGATE_CACHE_SIZE", cls.aggregate_cache_size),
            argon2_time_cost=integer("ARGON2_TIME_COST", cls.argon2_time_cost),
            argon2_memory_cost_kib=integer("ARGON2_MEMORY_COST_KIB", cls.argon2_memory_cost_kib),
            argon2_parallelism=integer("ARGON2_PARALLELISM", cls.argon2_parallelism),
            applications=parse_applications(get("APPLICATIONS"), connections),
            default_directory=get("DEFAULT_DIRECTORY") or cls.default_directory,
            password_min_length=integer("PASSWORD_MIN_LENGTH", cls.password_min_length),
            password_character_classes=integer(
                "PASSWORD_CHARACTER_CLASSES", cls.password_character_classes
            ),
            brute_force_max_attempts=integer(
                "BRUTE_FORCE_MAX_ATTEMPTS", cls.brute_force_max_attempts
            ),
            brute_force_block_seconds=integer(
                "BRUTE_FORCE_BLOCK_SECONDS", cls.brute_force_block_seconds
            ),
            ip_throttle_max_attempts=integer(
                "IP_THROTTLE_MAX_ATTEMPTS", cls.ip_throttle_max_attempts
            ),
            ip_throttle_window_seconds=integer(
                "IP_THROTTLE_WINDOW_SECONDS", cls.ip_throttle_window_seconds
            ),
            claims=parse_claims(get("CLAIMS")),
            external_issuer=get("EXTERNAL_ISSUER"),
            external_jwks_url=get("EXTERNAL_JWKS_URL"),
            external_audience=get("EXTERNAL_AUDIENCE"),
            kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS"),
            kafka_topic=get("KAFKA_TOPIC") or cls.kafka_topic,
            kafka_partitions=integer("KAFKA_PARTITIONS", cls.kafka_partitions),
            kafka_replication_factor=integer(
                "KAFKA_REPLICATION_FACTOR", cls.kafka_replication_factor
            ),
            erase_on_delete=(get("ERASE_ON_DELETE") or "").lower() in ("1", "true", "yes", "on"),
            embedded_workers=(get("EMBEDDED_WORKERS") or "true").lower()
            not in ("0", "false", "no", "off"),
            http_workers=integer("HTTP_WORKERS", cls.http_workers),
            header_timeout_seconds=integer("HEADER_TIMEOUT_SECONDS", cls.header_timeout_seconds),
            body_timeout_seconds=integer("BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds),
            max_header_bytes=integer("MAX_HEADER_BYTES", cls.max_header_bytes),
            max_connections=integer("MAX_CONNECTIONS", cls.max_connections),
            shutdown_timeout_seconds=integer(
                "SHUTDOWN_TIMEOUT_SECONDS", cls.shutdown_timeout_seconds
            ),
            log_level=get("LOG_LEVEL") or cls.log_level,
            log_format=(get("LOG_FORMAT") or cls.log_format).lower(),
        )
