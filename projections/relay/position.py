"""How far the relay got: the position of the last event the broker acknowledged.

Kept apart from the search projector's position: the library's tracking table is keyed by
application name only, so on SQLite the relay has a file of its own under the data directory
(`relay.sqlite3`) and on PostgreSQL a table of its own (`relay_tracking`).
"""

from __future__ import annotations

from pathlib import Path

from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.utils import Environment

from domain.profiles import UserProfiles
from domain.storage.config import is_postgres, postgres_env

RELAY_FILE = "relay.sqlite3"
# Names the library's environment and so the PostgreSQL tracking table (`relay_tracking`).
RELAY_NAME = "relay"


class RelayPosition:
    def __init__(self, recorder: TrackingRecorder, application_name: str = UserProfiles.name):
        self.recorder = recorder
        self.application_name = application_name

    def current(self) -> int:
        return self.recorder.max_tracking_id(self.application_name) or 0

    def record(self, position: int) -> None:
        """Moves the position forward; one not past the recorded position raises the library's
        IntegrityError (another relay on the same store got there first)."""
        self.recorder.insert_tracking(Tracking(self.application_name, position))

    def close(self) -> None:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()


def relay_position(database_url: str | None, data_dir: Path) -> RelayPosition:
    if database_url and is_postgres(database_url):
        env = postgres_env(database_url)
        env["POSTGRES_POOL_SIZE"] = "1"
        env["POSTGRES_MAX_OVERFLOW"] = "1"
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / RELAY_FILE),
        }
    env["CREATE_TABLE"] = "y"
    factory = InfrastructureFactory[TrackingRecorder].construct(Environment(RELAY_NAME, env))
    return RelayPosition(factory.tracking_recorder())
