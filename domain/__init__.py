"""The user-profile domain: the User aggregate, its events, the metadata rules and the commands.

- `user`, `metadata`, `actor`, `errors`: the aggregate, Auth0's merge and limits, who acted;
- `profiles`: the commands (create, update, delete and erase, record a login) and the
  immediately consistent reads; `application` the event-sourced application under them
  (group commit, crypto-shredding mapper, typed access to the ports);
- `ports`: what the domain needs beside the event log (email index, user keys, time index,
  change rows, password hashing), as interfaces;
- `history`, `timeline`, `time_travel`, `feed`, `erasure`: reading the past;
- `storage/`: the SQLite and PostgreSQL adapters of the ports, chosen by configuration.

Nothing in here knows about HTTP, Kafka, the projections or the entry points.
"""
