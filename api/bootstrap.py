"""The composition root: builds each process of the service from explicit settings, once.

`build_http` (the API, with the workers it runs embedded), `build_projector` (`metaledger
project` and `rebuild`), `build_relay` (`metaledger relay`, or beside the API) and
`build_consumer` (`metaledger consume NAME`). Every store comes from `stores`, built from the
one store location the settings parsed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from metaledger.api import stores
from metaledger.api.auth.browser_grants import BrowserGrants
from metaledger.api.auth.clients import admin_client
from metaledger.api.auth.external_issuer import external_issuer
from metaledger.api.auth.failure_store import BucketStatements
from metaledger.api.auth.keys import SigningKey
from metaledger.api.auth.login import PasswordLogin
from metaledger.api.auth.login_throttle import LoginThrottle
from metaledger.api.auth.password_policy import PasswordPolicy
from metaledger.api.auth.passwords import Passwords
from metaledger.api.auth.tokens import TokenService
from metaledger.api.client_store import StoredClients
from metaledger.api.cluster import node_name
from metaledger.api.code_store import TenantCode
from metaledger.api.connection_store import ConnectionRegistry
from metaledger.api.custom_databases import CustomDatabases
from metaledger.api.directory import Directory
from metaledger.api.job_store import SqlJobStore
from metaledger.api.jobs import ExportSource, JobFiles, JobRunner
from metaledger.api.observability.leases import Leases
from metaledger.api.observability.observers import process_telemetry
from metaledger.api.observability.positions import (
    AUDIT,
    RELAY,
    SEARCH,
    LogPositions,
    Position,
)
from metaledger.api.sandbox.egress import Egress
from metaledger.api.sandbox.legacy_store import LegacyPools
from metaledger.api.sandbox.pipeline import TenantPipeline
from metaledger.api.sandbox.pool import WorkerPool
from metaledger.api.settings import Settings
from metaledger.consumers.entitlements import EntitlementsHandler
from metaledger.consumers.runner import ConsumerConfig, ConsumerRunner, Handler
from metaledger.domain.metadata import MetadataLimits
from metaledger.domain.profiles import UserProfiles
from metaledger.projections.audit.projector import AuditProjector
from metaledger.projections.audit.store import AuditStore
from metaledger.projections.batches import BatchProjector, Projections
from metaledger.projections.lease import PROJECTOR, FencedTracking, LeasedService, Worker
from metaledger.projections.lease import RELAY as RELAY_LEASE
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
    clients: StoredClients
    password_policy: PasswordPolicy
    login: PasswordLogin
    search: SearchStore
    code: TenantCode
    pipeline: TenantPipeline
    # The log's end and its followers' positions, for /readyz and the metrics.
    positions: LogPositions
    connections: ConnectionRegistry
    databases: CustomDatabases
    audit: AuditStore
    # Browser sessions, authorization codes, login tickets and refresh tokens.
    grants: BrowserGrants
    # Started and stopped with the HTTP app, in order (stopped in reverse).
    background: list[BackgroundService] = field(default_factory=list)
    jobs: Jobs | None = None
    # This node's name in the cluster, and who holds each lease (/readyz, the metrics).
    node: str = ""
    leases: Leases = list

    def close(self) -> None:
        """Releases what building it opened: the sandbox's workers, the legacy databases'
        sessions and the stores' connections (the background services stop with the app)."""
        self.pipeline.pool.close()
        self.databases.legacy.stop()
        self.audit.close()
        self.search.close()
        self.profiles.close()


@dataclass(frozen=True)
class Jobs:
    """What the jobs routes need: the connections, the job store, files and the runner."""

    directory: Directory
    store: SqlJobStore
    files: JobFiles
    runner: JobRunner


@dataclass
class SearchProjection:
    """The search projector's parts: the log it follows and the read model it writes."""

    profiles: UserProfiles
    store: SearchStore

    def service(self, *also: BatchProjector[Any]) -> ProjectorService:
        """The search projector, and the projectors `also` fed from the same reads of the log."""
        projectors = [Projector(self.profiles, self.store), *also]
        return ProjectorService(Projections(projectors), process_telemetry())

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
    if not create_tables:
        return _profiles(settings, create_tables)
    with stores.schema_lock(settings.store):
        return _profiles(settings, create_tables)


def _profiles(settings: Settings, create_tables: bool) -> UserProfiles:
    profiles = stores.user_profiles(
        settings.store,
        aggregate_cache_size=settings.aggregate_cache_size,
        create_tables=create_tables,
        connections=settings.connections,
        limits=MetadataLimits(
            max_bytes=settings.metadata_max_bytes, max_depth=settings.metadata_max_depth
        ),
        passwords=passwords(settings),
    )
    profiles.commit_observer = process_telemetry()
    return profiles


def open_profiles(settings: Settings) -> UserProfiles:
    """The event store for a command that only reads: it must exist (StoreNotFound otherwise),
    and nothing is created."""
    stores.ensure_event_store_exists(settings.store)
    return build_profiles(settings, create_tables=False)


def passwords(settings: Settings) -> Passwords:
    return Passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )


def build_jobs(
    settings: Settings, profiles: UserProfiles, search: SearchStore | None = None
) -> Jobs:
    """The job store beside the event store, and the runner of its queue (whose exports of the
    present read the `search` read model, when given)."""
    store = stores.job_store(profiles)
    files = JobFiles(settings.data_dir / "jobs")
    runner = JobRunner(
        profiles,
        store,
        files,
        workers=settings.jobs_concurrency,
        stale_seconds=settings.jobs_stale_seconds,
        expiry_seconds=settings.export_expiry_seconds,
        observer=process_telemetry(),
        export_source=ExportSource(search, settings.export_read_model_wait_seconds),
    )
    return Jobs(Directory(settings.connections), store, files, runner)


def build_http(settings: Settings) -> Container:
    """The API's container; on PostgreSQL its tables are made under the schema lock."""
    with stores.schema_lock(settings.store):
        return _build_http(settings)


def _build_http(settings: Settings) -> Container:
    signing_key = SigningKey.load_or_create(
        settings.data_dir, settings.signing_key_pem
    ).with_previous(settings.previous_signing_public_key)
    profiles = build_profiles(settings)
    search = stores.search_store(settings.store)
    code = stores.tenant_code(profiles)
    pool = WorkerPool(settings.sandbox_workers, settings.sandbox_memory_mib * 1024 * 1024)
    jobs = build_jobs(settings, profiles, search)
    connections = ConnectionRegistry(jobs.directory, code)
    # Users may belong to the connections created through the API too.
    profiles.connections = connections
    egress = Egress(settings.sandbox_egress_hosts, settings.sandbox_egress_timeout_seconds)
    legacy = LegacyPools(settings.custom_db_query_timeout_seconds)
    databases = CustomDatabases(
        connections,
        pool,
        profiles,
        egress,
        seconds=settings.sandbox_deadline_seconds,
        legacy=legacy,
        issuer=settings.issuer,
    )
    audit = stores.audit_store(settings.store)
    background: list[BackgroundService] = [pool, legacy]
    relays: list[RelayService] = []
    if settings.embedded_workers and stores.is_shared(settings.store):
        background.extend(_leased_workers(settings, profiles, search, audit))
    elif settings.embedded_workers:
        audit_projector = AuditProjection(profiles, audit, log_retention(settings)).projector()
        background.append(SearchProjection(profiles, search).service(audit_projector))
        relays = _embedded_relay(settings, profiles)
        background.extend(relays)
    background.append(jobs.runner)
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
        clients=StoredClients(
            [
                admin_client(
                    settings.data_dir,
                    settings.admin_client_id,
                    settings.admin_client_secret,
                    settings.connections,
                ),
                *settings.applications,
            ],
            code,
            settings.connections,
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
            databases=databases,
            on_outcome=process_telemetry().login,
        ),
        search=search,
        code=code,
        pipeline=TenantPipeline(
            code,
            pool,
            profiles,
            egress,
            seconds=settings.sandbox_deadline_seconds,
            issuer=settings.issuer,
        ),
        positions=LogPositions(
            profiles.recorder.max_notification_id,
            {
                SEARCH: search.position,
                AUDIT: audit.position,
                **_relay_position(settings, relays),
            },
        ),
        connections=connections,
        databases=databases,
        audit=audit,
        grants=stores.browser_grants(profiles),
        background=background,
        jobs=jobs,
        node=node_name(settings),
        leases=functools.partial(stores.leases, settings.store),
    )


def build_projector(settings: Settings) -> SearchProjection:
    with stores.schema_lock(settings.store):
        return SearchProjection(build_profiles(settings), stores.search_store(settings.store))


def build_audit_projector(settings: Settings) -> AuditProjection:
    with stores.schema_lock(settings.store):
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
    with stores.schema_lock(settings.store):
        position = stores.relay_position(settings.store)
    return RelayService(relay_of(config, profiles, position), process_telemetry())


def build_consumer(settings: Settings, name: str) -> ConsumerRunner | None:
    """The reference consumer `name`; None when no broker is configured."""
    if not settings.kafka_bootstrap_servers:
        return None
    make_handler, filename = CONSUMERS[name]
    with stores.schema_lock(settings.store):
        database = stores.consumer_database(settings.store, filename)
    return ConsumerRunner(
        ConsumerConfig(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic,
            replication_factor=settings.kafka_replication_factor,
        ),
        make_handler(),
        database,
        observer=process_telemetry(),
    )


def leased_projectors(
    settings: Settings, search: SearchProjection, audit: AuditProjection
) -> LeasedService | None:
    """The search and audit projectors, run while this node holds the `projector` lease, their
    position writes passing its fence; None on SQLite (one node runs them unconditionally)."""
    lease = stores.lease(settings.store, PROJECTOR, node_name(settings))
    if lease is None:
        return None
    fence = lease.fence

    def projectors() -> Worker:
        # Fenced from the first term on (the stores are the API's too, which never write).
        for store in (search.store, audit.store):
            if isinstance(store, FencedTracking):
                store.fence = fence
        return search.service(audit.projector())

    return LeasedService(lease, projectors)


def leased_relay(
    settings: Settings, profiles: UserProfiles, *, producer_process: bool = False
) -> LeasedService | None:
    """The relay, run while this node holds the `relay` lease, its position writes passing the
    lease's fence; None on SQLite or when publishing is off."""
    lease = stores.lease(settings.store, RELAY_LEASE, node_name(settings))
    if lease is None or relay_config(settings) is None:
        return None
    fence = lease.fence

    def relay() -> Worker:
        service = build_relay(settings, profiles, producer_process=producer_process)
        assert service is not None  # publishing is on
        recorder = service.relay.position.recorder
        if isinstance(recorder, FencedTracking):
            recorder.fence = fence
        return service

    return LeasedService(lease, relay)


def _leased_workers(
    settings: Settings, profiles: UserProfiles, search: SearchStore, audit: AuditStore
) -> list[BackgroundService]:
    """The workers of a node that shares PostgreSQL with others: each runs only while this node
    holds its lease."""
    workers: list[BackgroundService] = []
    projectors = leased_projectors(
        settings,
        SearchProjection(profiles, search),
        AuditProjection(profiles, audit, log_retention(settings)),
    )
    if projectors is not None:
        workers.append(projectors)
    if _publishing(settings):
        relay = leased_relay(settings, profiles)
        if relay is not None:
            workers.append(relay)
    return workers


def _embedded_relay(settings: Settings, profiles: UserProfiles) -> list[RelayService]:
    """The relay to run beside the API; none, said plainly, when publishing is off."""
    relay = build_relay(settings, profiles) if _publishing(settings) else None
    return [] if relay is None else [relay]


def _publishing(settings: Settings) -> bool:
    """Whether a broker is configured; says so in the log, and where the stream goes."""
    if not settings.kafka_bootstrap_servers:
        log.warning(
            "Kafka publishing is off (METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set): events "
            "are kept in the store and published from the relay's position once it is set"
        )
        return False
    log.info(
        "publishing the change stream to %s on %s",
        settings.kafka_topic,
        settings.kafka_bootstrap_servers,
    )
    return True


def _relay_position(settings: Settings, relays: list[RelayService]) -> dict[str, Position]:
    """The relay's position when publishing is on: the embedded relay's, else read from the
    store that the relay's own process keeps."""
    if not settings.kafka_bootstrap_servers:
        return {}
    position = relays[0].relay.position if relays else stores.relay_position(settings.store)
    return {RELAY: position.current}
