"""Who holds a lease of a cluster now, read straight from its database."""

from __future__ import annotations

import psycopg

from metaledger.projections.lease import LEASES_TABLE


def lease_holder(database_url: str, lease: str) -> str | None:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            f"SELECT holder FROM {LEASES_TABLE} WHERE name = %s AND expires_at > clock_timestamp()",
            (lease,),
        ).fetchone()
    return None if row is None else str(row[0])
