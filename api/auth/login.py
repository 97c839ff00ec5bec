"""Password logins: find the user of a connection by email, check the password, throttle."""

from __future__ import annotations

from dataclasses import dataclass

from metaledger.api.auth.login_throttle import Block, LoginThrottle, login_key
from metaledger.api.auth.passwords import Passwords
from metaledger.domain.profiles import UserProfiles
from metaledger.domain.user import User


class LoginRefused(Exception):
    """A login that does not get tokens."""


class WrongCredentials(LoginRefused):
    """Unknown user, no password set, or a wrong password: the caller cannot tell which."""


class UserBlocked(LoginRefused):
    """The password is right but an administrator blocked the user."""


class TooManyAttempts(LoginRefused):
    def __init__(self, block: Block) -> None:
        super().__init__("too many failed logins")
        self.block = block


@dataclass(frozen=True)
class PasswordLogin:
    profiles: UserProfiles
    passwords: Passwords
    throttle: LoginThrottle

    def authenticate(self, connection: str, username: str, password: str, ip: str) -> User:
        key = login_key(connection, username, ip)
        block = self.throttle.block(key)
        if block is not None:
            raise TooManyAttempts(block)
        user = self._find(connection, username)
        password_hash = user.profile.get("password_hash") if user is not None else None
        stored = password_hash if isinstance(password_hash, str) else None
        if user is None or not self.passwords.verify_login(stored, password):
            self.throttle.failed(key)
            raise WrongCredentials
        self.throttle.succeeded(key)
        if user.profile.get("blocked") is True:
            raise UserBlocked
        return user

    def _find(self, connection: str, username: str) -> User | None:
        """Database users log in with their email (stored lowercased), unique per connection."""
        for user in self.profiles.users_by_email(username.strip().lower()):
            if user.connection == connection:
                return user
        return None
