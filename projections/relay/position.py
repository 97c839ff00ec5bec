"""How far the relay got: the position of the last event the broker acknowledged.

Kept apart from the search projector's position: the library's tracking table is keyed by
application name only, so on SQLite the relay has a file of its own under the data directory
(`relay.sqlite3`) and on PostgreSQL a table of its own (`relay_tracking`).
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Identifier

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

    def rewind(self, position: int) -> None:
        """Sets the position to `position`, backwards too, in one transaction: the relay then
        publishes every event after it again (after a cluster lost the topic, say)."""
        recorder, name = self.recorder, self.application_name
        if isinstance(recorder, PostgresTrackingRecorder):
            table = SQL("{}.{}").format(
                Identifier(recorder.datastore.schema), Identifier(recorder.tracking_table_name)
            )
            with recorder.datastore.transaction(commit=True) as curs:
                curs.execute(
                    SQL("DELETE FROM {} WHERE application_name = %s").format(table), (name,)
                )
                if position > 0:
                    curs.execute(
                        SQL("INSERT INTO {} VALUES (%s, %s)").format(table), (name, position)
                    )
        elif isinstance(recorder, SQLiteTrackingRecorder):
            with recorder.datastore.transaction(commit=True) as c:
                c.execute("DELETE FROM tracking WHERE application_name = ?", (name,))
                if position > 0:
                    c.execute("INSERT INTO tracking VALUES (?, ?)", (name, position))
        else:
            raise TypeError(f"cannot rewind a {type(recorder).__name__}")

    def close(self) -> None:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()
