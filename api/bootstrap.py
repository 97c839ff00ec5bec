"""The composition root: builds every long-lived part from the settings, once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, cast

from api.change_stream import embedded_relay
from api.security.clients import ClientRegistry, admin_client
from api.security.external_issuer import external_issuer
from api.security.keys import SigningKey
from api.security.login import PasswordLogin
from api.security.login_throttle import LoginFailures, LoginThrottle
from api.security.password_policy import PasswordPolicy
from api.security.passwords import Passwords
from api.security.tokens import TokenService
from api.settings import Settings
from domain.metadata import MetadataLimits
from domain.profiles import UserProfiles
from domain.storage.config import event_store_env
from projections.search.config import search_store
from projections.search.projector import Projector, ProjectorService
from projections.search.store import SearchStore


class BackgroundService(Protocol):
    """A worker that runs beside the API in one process (embedded mode)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Container:
    settings: Settings
    profiles: UserProfiles
    tokens: TokenService
    signing_key: SigningKey
    clients: ClientRegistry
    passwords: Passwords
    password_policy: PasswordPolicy
    login: PasswordLogin
    search: SearchStore
    # Started and stopped with the HTTP app, in order (stopped in reverse).
    background: list[BackgroundService] = field(default_factory=list)


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
    return UserProfiles(
        event_store_env(
            settings.database_url,
            settings.data_dir,
            settings.aggregate_cache_size,
            create_tables,
        ),
        connections=settings.connections,
        limits=MetadataLimits(
            max_bytes=settings.metadata_max_bytes, max_depth=settings.metadata_max_depth
        ),
    )


def build(settings: Settings) -> Container:
    signing_key = SigningKey.load_or_create(settings.data_dir, settings.signing_key_pem)
    profiles = build_profiles(settings)
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )
    search = search_store(settings.database_url, settings.data_dir)
    background: list[BackgroundService] = []
    if settings.embedded_workers:
        background.append(ProjectorService(Projector(profiles, search)))
        background.extend(embedded_relay(settings, profiles))
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
        passwords=passwords,
        password_policy=PasswordPolicy(
            settings.password_min_length, settings.password_character_classes
        ),
        login=PasswordLogin(
            profiles,
            passwords,
            LoginThrottle(
                settings.brute_force_max_attempts,
                settings.brute_force_block_seconds,
                cast(LoginFailures, profiles.recorder),
            ),
        ),
        search=search,
        background=background,
    )
