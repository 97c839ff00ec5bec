"""The change stream on the command line: `relay`, `consume NAME` and `tail`.

`relay` publishes the event log to Kafka until stopped (SIGINT/SIGTERM), for deployments where
`serve` runs with METALEDGER_EMBEDDED_WORKERS=false; embedded, `serve` runs the same relay in a
thread. `consume NAME` runs a reference consumer; `tail` prints the stream for people.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import orjson

from metaledger.api.bootstrap import (
    CONSUMERS,
    build_consumer,
    build_profiles,
    build_relay,
    leased_relay,
)
from metaledger.api.cli.processes import run_until_signalled
from metaledger.api.cli.terminal import add_color_argument, console
from metaledger.api.observability import metrics
from metaledger.api.observability.positions import RELAY, one_follower
from metaledger.api.settings import Settings
from metaledger.consumers.messages import ChangeEvent
from metaledger.consumers.tail import Tail, TailFilter, describe

NO_BROKER = "metaledger: METALEDGER_KAFKA_BOOTSTRAP_SERVERS is not set"


def relay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="from_position",
        type=int,
        metavar="POSITION",
        help="publish again every event after POSITION (0: all of them), for example after the "
        "cluster lost the topic; stop every other relay on this store first",
    )


def relay(settings: Settings, args: argparse.Namespace) -> int:
    profiles = build_profiles(settings)
    leased = (
        None
        if args.from_position is not None
        else leased_relay(settings, profiles, producer_process=True)
    )
    if leased is not None:  # one of several nodes: it publishes while it holds the lease
        print("metaledger: relaying while this node holds the relay lease", file=sys.stderr)
        try:
            run_until_signalled(leased)
        finally:
            profiles.close()
        return 0
    # The relay's own process: producing runs beside it in a child of its own.
    service = build_relay(settings, profiles, producer_process=True)
    if service is None:
        profiles.close()
        print(f"{NO_BROKER}: nothing to publish to", file=sys.stderr)
        return 2
    start = args.from_position
    if start is not None:
        head = profiles.recorder.max_notification_id() or 0
        if not 0 <= start <= head:
            service.close()
            profiles.close()
            print(f"metaledger: --from must be between 0 and {head}", file=sys.stderr)
            return 2
        service.relay.position.rewind(start)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        service.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    end = profiles.recorder.max_notification_id
    metrics.serve_metrics(settings, [one_follower(end, RELAY, service.relay.position.current)])
    lag = service.relay.lag()
    print(
        f"metaledger: relaying to {settings.kafka_topic} on {settings.kafka_bootstrap_servers} "
        f"from position {lag.position} ({lag.events} events waiting)",
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
    runner = build_consumer(settings, args.name)
    if runner is None:
        print(NO_BROKER, file=sys.stderr)
        return 2
    runner.install_signal_handlers()
    metrics.serve_metrics(settings)
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
    parser.add_argument(
        "--json", action="store_true", help="print each event as its CloudEvent, as on the wire"
    )
    parser.add_argument("--limit", type=int, help="stop after this many events")
    add_color_argument(parser, "changes")


def tail(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.kafka_bootstrap_servers:
        print(NO_BROKER, file=sys.stderr)
        return 2
    stream = Tail(settings.kafka_bootstrap_servers, settings.kafka_topic, args.from_beginning)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stream.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    events = stream.events(TailFilter(args.user, frozenset(args.type)))
    out = console(sys.stdout, args.color)
    for shown, event in enumerate(events, start=1):
        if args.json:
            print(_as_json(event), flush=True)
        else:
            out.print(describe(event))
        if args.limit is not None and shown >= args.limit:
            break
    return 0


def _as_json(event: ChangeEvent) -> str:
    return orjson.dumps(event.message).decode()
