"""Running several nodes: the name of this one, the secrets a cluster's nodes must share, and the
lock that keeps a second node off the SQLite files of a running one."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from metaledger.api.settings import PREFIX, Settings, variable
from metaledger.api.stores import is_shared

NODE_LOCK_FILE = "node.lock"
DATABASE = f"{PREFIX}DATABASE_URL"


class NodeRefused(Exception):
    """This node must not start as configured; the message says why and what to set."""


def node_name(settings: Settings) -> str:
    """How the leases, /readyz and the metrics name this node: the same in all its processes."""
    return settings.node_name or f"{socket.gethostname()}:{settings.port}"


def check_shared_secrets(settings: Settings) -> None:
    """In cluster mode, refuses to start without what every node must share: a node that made
    its own signing key would refuse the tokens of the others, and its own admin secret would
    lock clients out of it."""
    if not settings.cluster:
        return
    problems = []
    if not is_shared(settings.store):
        problems.append(
            f"{DATABASE} is not set: the nodes of a cluster share one PostgreSQL "
            "database (SQLite serves a single node)"
        )
    if not settings.signing_key_pem:
        problems.append(
            f"{variable('signing_key_pem')} is not set: every node must sign and verify tokens "
            "with the same RSA key (a PEM)"
        )
    for name in ("admin_client_id", "admin_client_secret"):
        if not getattr(settings, name):
            problems.append(
                f"{variable(name)} is not set: every node must know the same admin client"
            )
    if problems:
        raise NodeRefused(
            f"cluster mode ({variable('cluster')}) refuses to start:\n" + "\n".join(problems)
        )


@contextmanager
def single_node(settings: Settings) -> Iterator[None]:
    """Held while `serve` runs on SQLite files: a second node on the same data directory is
    refused (its writers and followers would race this one's). Nothing on PostgreSQL."""
    if is_shared(settings.store):
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / NODE_LOCK_FILE
    with open(path, "a+") as lock:  # closing it (or the process ending) releases the lock
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise NodeRefused(
                f"another metaledger node ({holder}) serves the SQLite files in "
                f"{settings.data_dir}: SQLite serves one node; run several nodes on PostgreSQL "
                f"({DATABASE})"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        yield
