"""How far the relay got: the position of the last event the broker acknowledged.

Kept apart from the search projector's position: the library's tracking table is keyed by
application name only, so on SQLite the relay has a file of its own under the data directory
(`relay.sqlite3`) and on PostgreSQL a table of its own (`relay_tracking`).
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking, TrackingRecorder

from metaledger.domain.profiles import UserProfiles


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
