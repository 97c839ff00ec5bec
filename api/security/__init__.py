"""Token issuing and checking, client credentials and password hashing."""
