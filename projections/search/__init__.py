"""The search read model: users projected from the event log into tables that answer Auth0's
user search (`GET /api/v2/users?q=…&search_engine=v3`), on SQLite or PostgreSQL.

- `fields` names what can be searched and how (column, type, case rule);
- `documents` turns a User aggregate into a row, its metadata entries and its stored state;
- `query` translates a Lucene query (parsed by luqum) into a tree of conditions, within bounds;
- `leaves` turns each of its terms and ranges into a parameterised SQL condition;
- `store` is the interface the API and the projector use; `sqlite` and `postgres` implement it;
- `projector` follows the event log in batches, writing rows and position in one transaction.
"""
