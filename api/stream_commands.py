"""The change stream on the command line: `relay`, `consume NAME` and `tail`.

`relay` publishes the event log to Kafka until stopped (SIGINT/SIGTERM), for deployments where
`serve` runs with METALEDGER_EMBEDDED_WORKERS=false; embedded, `serve` runs the same relay in a
thread. `consume NAME` runs a reference consumer; `tail` prints the stream for people.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from collections.abc import Callable
from types import FrameType

import orjson

from api.bootstrap import build_profiles
from api.change_stream import relay_config
from api.settings import Settings
from consumers.database import Database
from consumers.entitlements import EntitlementsHandler
from consumers.messages import ChangeEvent
from consumers.runner import ConsumerConfig, ConsumerRunner, Handler
from consumers.tail import Tail, TailFilter, describe
from projections.relay.service import RelayService, build_relay

# `metaledger consume NAME`: the reference consumers, each with a database file of its own.
CONSUMERS: dict[str, tuple[Callable[[], Handler], str]] = {
    "entitlements": (EntitlementsHandler, "entitlements.sqlite3"),
}


def relay(settings: Settings, _: argparse.Namespace) -> int:
    config = relay_config(settings)
    if config is None:
        print(
            "metaledger: METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set: nothing to publish to",
            file=sys.stderr,
        )
        return 2
    profiles = build_profiles(settings)
    # The relay's own process: producing runs beside it in a child of its own.
    config = dataclasses.replace(config, producer_process=True)
    service = RelayService(build_relay(config, profiles))

    def stop(_signal: int, _frame: FrameType | None) -> None:
        service.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    lag = service.relay.lag()
    print(
        f"metaledger: relaying to {config.topic.name} on {config.bootstrap_servers} from "
        f"position {lag.position} ({lag.events} events waiting)",
        file=sys.stderr,
    )
    try:
        service.run()
    finally:
        profiles.close()
    return 0


def consume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(CONSUMERS), help="the consumer to run")


def consume(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.kafka_bootstrap_servers:
        print("metaledger: METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    make_handler, filename = CONSUMERS[args.name]
    runner = ConsumerRunner(
        ConsumerConfig(
            settings.kafka_bootstrap_servers,
            settings.kafka_topic,
            replication_factor=settings.kafka_replication_factor,
        ),
        make_handler(),
        Database(settings.database_url, settings.data_dir, filename),
    )
    runner.install_signal_handlers()
    print(
        f"metaledger: consumer {args.name} reading {settings.kafka_topic} "
        f"(group {runner.config.group(args.name)}, dead letters to {runner.dead_letter_topic})",
        file=sys.stderr,
    )
    runner.run()
    return 0


def tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="only this user_id")
    parser.add_argument(
        "--type",
        action="append",
        default=[],
        help="only this type (user.updated, …) or domain event (AppMetadataPatched, …); repeatable",
    )
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest event")
    parser.add_argument("--json", action="store_true", help="print each event as JSON")
    parser.add_argument("--limit", type=int, help="stop after this many events")


def tail(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.kafka_bootstrap_servers:
        print("metaledger: METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    stream = Tail(settings.kafka_bootstrap_servers, settings.kafka_topic, args.from_beginning)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stream.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    events = stream.events(TailFilter(args.user, frozenset(args.type)))
    for shown, event in enumerate(events, start=1):
        print(_as_json(event) if args.json else describe(event), flush=True)
        if args.limit is not None and shown >= args.limit:
            break
    return 0


def _as_json(event: ChangeEvent) -> str:
    return orjson.dumps(event.__dict__).decode()
