"""The composition root: builds each process of the service from explicit settings, once.

`build_http` (the API, with the workers it runs embedded), `build_projector` (`metaledger
project` and `rebuild`), `build_relay` (`metaledger relay`, or beside the API) and
`build_consumer` (`metaledger consume NAME`). Every store comes from `stores`, built from the
one store location the settings parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from metaledger.api import stores
from metaledger.api.auth.clients import ClientRegistry, admin_client
from metaledger.api.auth.external_issuer import external_issuer
from metaledger.api.auth.failure_store import BucketStatements
from metaledger.api.auth.keys import SigningKey
from metaledger.api.auth.login import PasswordLogin
from metaledger.api.auth.login_throttle import LoginThrottle
from metaledger.api.auth.password_policy import PasswordPolicy
from metaledger.api.auth.passwords import Passwords
from metaledger.api.auth.tokens import TokenService
from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.consumers.runner import ConsumerConfig, ConsumerRunner, Handler
from metaledger.domain.metadata import MetadataLimits
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.audit.projector import AuditProjector, AuditProjectorService
from metaledger.projections.audit.store import AuditStore
from metaledger.projections.relay.service import RelayConfig, RelayService
from metaledger.projections.relay.service import build_relay as relay_of
from metaledger.projections.relay.topics import TopicSpec
from metaledger.projections.search.projector import Projector, ProjectorService
from metaledger.projections.search.store import SearchStore

log = logging.getLogger("metaledger.relay")

# `metaledger consume NAME`: the reference consumers, each with a database file of its own.
CONSUMERS: dict[str, tuple[Callable[[], Handler], str]] = {
    "entitlements": (EntitlementsHandler, "entitlements.sqlite3"),
}


class BackgroundService(Protocol):
    """A worker that runs beside the API in one process (embedded mode)."""

    def start(self) -> None: ...

    def stop(self) -> object:
        """Stops it, waiting a bounded time (what it returns is not used)."""
        ...


@dataclass
class Container:
    settings: Settings
    profiles: UserProfiles
    tokens: TokenService
    signing_key: SigningKey
    clients: ClientRegistry
    password_policy: PasswordPolicy
    login: PasswordLogin
    search: SearchStore
    audit: AuditStore
    # Started and stopped with the HTTP app, in order (stopped in reverse).
    background: list[BackgroundService] = field(default_factory=list)


@dataclass
class SearchProjection:
    """The search projector's parts: the log it follows and the read model it writes."""

    profiles: UserProfiles
    store: SearchStore

    def service(self) -> ProjectorService:
        return ProjectorService(Projector(self.profiles, self.store))

    def close(self) -> None:
        self.store.close()
        self.profiles.close()


@dataclass
class AuditProjection:
    """The audit projector's parts: the log it follows and the read model it writes."""

    profiles: UserProfiles
    store: AuditStore
    retention: timedelta

    def projector(self) -> AuditProjector:
        return AuditProjector(self.profiles, self.store, retention=self.retention)

    def service(self) -> AuditProjectorService:
        return AuditProjectorService(self.projector())

    def close(self) -> None:
        self.store.close()
        self.profiles.close()


@contextmanager
def running(services: Sequence[BackgroundService]) -> Iterator[None]:
    """The services started, and stopped in reverse order on the way out."""
    for service in services:
        service.start()
    try:
        yield
    finally:
        for service in reversed(services):
            service.stop()


def build_profiles(settings: Settings, create_tables: bool = True) -> UserProfiles:
    """The event store and the commands on it; without `create_tables`, for helper processes
    that open a store another process made."""
    return stores.user_profiles(
        settings.store,
        aggregate_cache_size=settings.aggregate_cache_size,
        create_tables=create_tables,
        connections=settings.connections,
        limits=MetadataLimits(
            max_bytes=settings.metadata_max_bytes, max_depth=settings.metadata_max_depth
        ),
        passwords=passwords(settings),
    )


def open_profiles(settings: Settings) -> UserProfiles:
    """The event store for a command that only reads: it must exist (StoreNotFound otherwise),
    and nothing is created."""
    stores.ensure_event_store_exists(settings.store)
    return build_profiles(settings, create_tables=False)


def passwords(settings: Settings) -> Passwords:
    return Passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )


def build_http(settings: Settings) -> Container:
    signing_key = SigningKey.load_or_create(settings.data_dir, settings.signing_key_pem)
    profiles = build_profiles(settings)
    search = stores.search_store(settings.store)
    audit = stores.audit_store(settings.store)
    background: list[BackgroundService] = []
    if settings.embedded_workers:
        background.append(SearchProjection(profiles, search).service())
        background.append(AuditProjection(profiles, audit, log_retention(settings)).service())
        background.extend(_embedded_relay(settings, profiles))
    return Container(
        settings=settings,
        profiles=profiles,
        tokens=TokenService(
            signing_key,
            settings.issuer,
            settings.token_lifetime_seconds,
            external_issuer(
                settings.external_issuer, settings.external_jwks_url, settings.external_audience
            ),
        ),
        signing_key=signing_key,
        clients=ClientRegistry(
            [
                admin_client(
                    settings.data_dir,
                    settings.admin_client_id,
                    settings.admin_client_secret,
                    settings.connections,
                ),
                *settings.applications,
            ]
        ),
        password_policy=PasswordPolicy(
            settings.password_min_length, settings.password_character_classes
        ),
        login=PasswordLogin(
            profiles,
            passwords(settings),
            LoginThrottle(
                settings.brute_force_max_attempts,
                settings.brute_force_block_seconds,
                stores.login_failures(profiles),
            ),
            LoginThrottle(
                settings.ip_throttle_max_attempts,
                settings.ip_throttle_window_seconds,
                stores.login_failures(profiles, BucketStatements),
            ),
        ),
        search=search,
        audit=audit,
        background=background,
    )


def build_projector(settings: Settings) -> SearchProjection:
    return SearchProjection(build_profiles(settings), stores.search_store(settings.store))


def build_audit_projector(settings: Settings) -> AuditProjection:
    return AuditProjection(
        build_profiles(settings), stores.audit_store(settings.store), log_retention(settings)
    )


def log_retention(settings: Settings) -> timedelta:
    return timedelta(days=settings.log_retention_days)


def relay_config(settings: Settings, *, producer_process: bool = False) -> RelayConfig | None:
    """None when no broker is configured: publishing is off."""
    if not settings.kafka_bootstrap_servers:
        return None
    return RelayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=TopicSpec(
            settings.kafka_topic, settings.kafka_partitions, settings.kafka_replication_factor
        ),
        issuer=settings.issuer,
        producer_process=producer_process,
    )


def build_relay(
    settings: Settings, profiles: UserProfiles, *, producer_process: bool = False
) -> RelayService | None:
    """The relay publishing `profiles`' log; None when publishing is off."""
    config = relay_config(settings, producer_process=producer_process)
    if config is None:
        return None
    return RelayService(relay_of(config, profiles, stores.relay_position(settings.store)))


def build_consumer(settings: Settings, name: str) -> ConsumerRunner | None:
    """The reference consumer `name`; None when no broker is configured."""
    if not settings.kafka_bootstrap_servers:
        return None
    make_handler, filename = CONSUMERS[name]
    return ConsumerRunner(
        ConsumerConfig(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic,
            replication_factor=settings.kafka_replication_factor,
        ),
        make_handler(),
        stores.consumer_database(settings.store, filename),
    )


def _embedded_relay(settings: Settings, profiles: UserProfiles) -> list[RelayService]:
    """The relay to run beside the API; none, said plainly, when publishing is off."""
    relay = build_relay(settings, profiles)
    if relay is None:
        log.warning(
            "Kafka publishing is off (METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set): events "
            "are kept in the store and published from the relay's position once it is set"
        )
        return []
    log.info(
        "publishing the change stream to %s on %s",
        settings.kafka_topic,
        settings.kafka_bootstrap_servers,
    )
    return [relay]
