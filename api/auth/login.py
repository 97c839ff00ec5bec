"""Password logins: find the user of a connection by email, check the password (or ask a custom
database's `login` script), throttle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metaledger.api.auth.login_throttle import Block, LoginThrottle, ip_key, login_key
from metaledger.api.auth.passwords import Passwords
from metaledger.api.connection_store import IMPORT_MODE
from metaledger.api.custom_databases import CustomDatabases, WrongPassword
from metaledger.domain import password_hashes
from metaledger.domain.actor import Actor
from metaledger.domain.profiles import UserProfiles, UserUpdate
from metaledger.domain.user import User

# Who replaces an imported password hash with argon2id at the first login that proves it.
REHASH_ACTOR = Actor(kind="system", id="password-rehash")


class LoginRefused(Exception):
    """A login that does not get tokens."""

    outcome = "refused"  # the login's outcome, as metrics count them


class WrongCredentials(LoginRefused):
    """Unknown user, no password set, or a wrong password: the caller cannot tell which (the
    log can: `user_id` is set for a user who exists)."""

    def __init__(self, user_id: str | None = None) -> None:
        super().__init__("wrong email or password")
        self.user_id = user_id

    outcome = "wrong_credentials"


class UserBlocked(LoginRefused):
    """The password is right but an administrator blocked the user."""

    outcome = "blocked_user"

    def __init__(self, user_id: str) -> None:
        super().__init__("user is blocked")
        self.user_id = user_id


class TooManyAttempts(LoginRefused):
    """Too many failed logins of this user from this IP."""

    outcome = "too_many_attempts"

    def __init__(self, block: Block) -> None:
        super().__init__("too many failed logins")
        self.block = block


class SuspiciousIp(TooManyAttempts):
    """Too many failed logins from this IP, whatever the username."""

    outcome = "suspicious_ip"


@dataclass(frozen=True)
class PasswordLogin:
    profiles: UserProfiles
    passwords: Passwords
    throttle: LoginThrottle  # one user from one IP
    ip_throttle: LoginThrottle  # one IP, across usernames
    databases: CustomDatabases | None = None  # connections whose users a legacy store holds
    # Told each login's outcome ("success" or a refusal's `outcome`), for metrics.
    on_outcome: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        # Made before the first login, so that not even that one costs an unknown user more
        # than a known user with a wrong password.
        _ = self.passwords.dummy_hash

    def authenticate(self, connection: str, username: str, password: str, ip: str) -> User:
        try:
            user = self._authenticate(connection, username, password, ip)
        except LoginRefused as refused:
            if self.on_outcome is not None:
                self.on_outcome(refused.outcome)
            raise
        if self.on_outcome is not None:
            self.on_outcome("success")
        return user

    def _authenticate(self, connection: str, username: str, password: str, ip: str) -> User:
        address, key = ip_key(ip), login_key(connection, username, ip)
        address_block = self.ip_throttle.block(address)
        if address_block is not None:
            raise SuspiciousIp(address_block)
        block = self.throttle.block(key)
        if block is not None:
            raise TooManyAttempts(block)
        user = self._find(connection, username)
        password_hash = user.profile.get("password_hash") if user is not None else None
        custom = self.databases.custom(connection) if self.databases is not None else None
        if custom is not None and (user is None or custom["options"].get(IMPORT_MODE) is not True):
            # The legacy store decides: always, or until the user is migrated (import mode).
            user, password_hash = self._legacy_login(custom, username, password), None
            verified = user is not None
        else:
            # Verified whether or not there is a user (against a dummy hash if need be), so an
            # unknown user costs the same one argon2 verification as a wrong password.
            verified = self.passwords.verify_login(
                password_hash if isinstance(password_hash, str) else None, password
            )
        if user is None or not verified:
            self.throttle.failed(key)
            self.ip_throttle.failed(address)
            raise WrongCredentials(user.user_id if user is not None else None)
        # This pair's streak only: the address's count stays, or one account the attacker
        # owns would reset a spray across the others.
        self.throttle.succeeded(key)
        if user.profile.get("blocked") is True:
            raise UserBlocked(user.user_id)
        if isinstance(password_hash, str) and password_hashes.is_imported(password_hash):
            # An imported hash is only as strong as the system it came from.
            user = self.profiles.update_user(
                user.user_id, UserUpdate(password=password), REHASH_ACTOR
            ).user
        return user

    def _legacy_login(
        self, connection: dict[str, Any], username: str, password: str
    ) -> User | None:
        """The user the connection's `login` script accepts, or None; ScriptFailed and
        ScriptRefused go up."""
        assert self.databases is not None  # only custom connections come here
        try:
            return self.databases.login(connection, username.strip(), password)
        except WrongPassword:
            return None

    def _find(self, connection: str, username: str) -> User | None:
        """Database users log in with their email (stored lowercased), unique per connection."""
        for user in self.profiles.users_by_email(username.strip().lower()):
            if user.connection == connection:
                return user
        return None
