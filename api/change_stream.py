"""The relay's configuration from the settings, and the relay that runs beside the API."""

from __future__ import annotations

import logging

from api.settings import Settings
from domain.profiles import UserProfiles
from projections.relay.service import RelayConfig, RelayService, build_relay
from projections.relay.topics import TopicSpec

log = logging.getLogger("metaledger.relay")


def relay_config(settings: Settings) -> RelayConfig | None:
    """None when no broker is configured: publishing is off."""
    if not settings.kafka_bootstrap_servers:
        return None
    return RelayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=TopicSpec(
            settings.kafka_topic, settings.kafka_partitions, settings.kafka_replication_factor
        ),
        issuer=settings.issuer,
        database_url=settings.database_url,
        data_dir=settings.data_dir,
    )


def embedded_relay(settings: Settings, profiles: UserProfiles) -> list[RelayService]:
    """The relay to run beside the API; none, said plainly, when publishing is off."""
    config = relay_config(settings)
    if config is None:
        log.warning(
            "Kafka publishing is off (METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set): events "
            "are kept in the store and published from the relay's position once it is set"
        )
        return []
    log.info(
        "publishing the change stream to %s on %s", config.topic.name, config.bootstrap_servers
    )
    return [RelayService(build_relay(config, profiles))]
