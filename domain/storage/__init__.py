"""Storage adapters for the `eventsourcing` library, chosen by configuration.

Its public face, for the composition root and the other stores' adapters: where the stores live
(`StoreLocation`, parsed from METALEDGER_DATABASE_URL in one place), the library's settings for
them, the one description of the SQL dialect, and the stored events' JSON transcoder. The
modules inside are the adapters of the domain's ports (`metaledger.domain.ports`) and are not
imported from outside this package.
"""

from metaledger.domain.storage.config import EVENTS_FILE, event_store_env, library_env
from metaledger.domain.storage.dialect import POSTGRES, SQLITE, Dialect
from metaledger.domain.storage.location import (
    PostgresDatabase,
    SQLiteFiles,
    StoreLocation,
    store_location,
)
from metaledger.domain.storage.residue import SECURE_DELETE, truncate_wal, vacuum
from metaledger.domain.storage.transcoder import OrjsonTranscoder

__all__ = [
    "EVENTS_FILE",
    "POSTGRES",
    "SECURE_DELETE",
    "SQLITE",
    "Dialect",
    "OrjsonTranscoder",
    "PostgresDatabase",
    "SQLiteFiles",
    "StoreLocation",
    "event_store_env",
    "library_env",
    "store_location",
    "truncate_wal",
    "vacuum",
]
