"""Everything that faces the outside, in parts that say what they are:

- `http/`: the HTTP edge. FastAPI app (`app`), routes (Management API users and search, history,
  the Authentication API pieces, health), typed dependencies (`deps`), request bodies and query
  parameters, and the one table that maps errors to Auth0's error body (`errors`). Routes only
  translate the Auth0 dialect; the commands live in the domain.
- `cli/`: the `metaledger` command, one module per command group (`serve`, `search`: project and
  rebuild, `stream`: relay, consume and tail, `history`), and the supervision of several HTTP
  processes (`processes`).
- `auth/`: authentication, with no web import: clients and applications, signing keys and
  tokens, password hashing and policy, password logins and their throttle, whose failure streaks
  it keeps in a store of its own (`failure_store`), and the claims `/userinfo` returns.
- The composition root: `settings` (typed, read once from `METALEDGER_*`), `stores` (every store,
  built from the one store location the settings parsed) and `bootstrap` (`build_http`,
  `build_projector`, `build_relay`, `build_consumer`: each process, from explicit settings).
"""
