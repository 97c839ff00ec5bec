"""The `metaledger` command line: one module per command group, each a thin layer over the
composition root (`metaledger.api.bootstrap`).

- `main`: the parser and the table of commands;
- `serve`: `serve`, the HTTP API (and, embedded, the background workers);
- `processes`: several HTTP processes on one port, supervised;
- `search`: `project` and `rebuild`, the search projector as a process of its own;
- `stream`: `relay`, `consume NAME` and `tail`, the change stream;
- `history`: `history`, a user's timeline in the terminal.
"""
