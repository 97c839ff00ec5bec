"""Authentication, without a web framework: clients and applications, signing keys, tokens,
password hashing and policy, password logins with brute-force protection (its failure streaks in
a store of its own, `failure_store`), external issuers, and the claims of `/userinfo`."""
