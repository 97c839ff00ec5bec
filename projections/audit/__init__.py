"""The audit read model: every event as Auth0 log records and per-key change rows, on SQLite or
PostgreSQL, for `GET /api/v2/logs` and `GET /api/v2/audit/changes`.

- `records` renders an event as a log record and change rows (Auth0's type codes, stable ids);
- `logquery` translates a Lucene `q` into a condition on log records;
- `store` is the interface the API and the projector use; `sqlite` and `postgres` implement it;
- `projector` follows the event log, writing rows and position in one transaction.
"""
