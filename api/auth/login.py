"""Password logins: find the user of a connection by email, check the password, throttle."""

from __future__ import annotations

from dataclasses import dataclass

from metaledger.api.auth.login_throttle import Block, LoginThrottle, ip_key, login_key
from metaledger.api.auth.passwords import Passwords
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.user import User


class LoginRefused(Exception):
    """A login that does not get tokens."""


class WrongCredentials(LoginRefused):
    """Unknown user, no password set, or a wrong password: the caller cannot tell which (the
    log can: `user_id` is set for a user who exists)."""

    def __init__(self, user_id: str | None = None) -> None:
        super().__init__("wrong email or password")
        self.user_id = user_id


class UserBlocked(LoginRefused):
    """The password is right but an administrator blocked the user."""

    def __init__(self, user_id: str) -> None:
        super().__init__("user is blocked")
        self.user_id = user_id


class TooManyAttempts(LoginRefused):
    """Too many failed logins of this user from this IP."""

    def __init__(self, block: Block) -> None:
        super().__init__("too many failed logins")
        self.block = block


class SuspiciousIp(TooManyAttempts):
    """Too many failed logins from this IP, whatever the username."""


@dataclass(frozen=True)
class PasswordLogin:
    profiles: UserProfiles
    passwords: Passwords
    throttle: LoginThrottle  # one user from one IP
    ip_throttle: LoginThrottle  # one IP, across usernames

    def __post_init__(self) -> None:
        # Made before the first login, so that not even that one costs an unknown user more
        # than a known user with a wrong password.
        _ = self.passwords.dummy_hash

    def authenticate(self, connection: str, username: str, password: str, ip: str) -> User:
        address, key = ip_key(ip), login_key(connection, username, ip)
        address_block = self.ip_throttle.block(address)
        if address_block is not None:
            raise SuspiciousIp(address_block)
        block = self.throttle.block(key)
        if block is not None:
            raise TooManyAttempts(block)
        user = self._find(connection, username)
        password_hash = user.profile.get("password_hash") if user is not None else None
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
        return user

    def _find(self, connection: str, username: str) -> User | None:
        """Database users log in with their email (stored lowercased), unique per connection."""
        for user in self.profiles.users_by_email(username.strip().lower()):
            if user.connection == connection:
                return user
        return None
