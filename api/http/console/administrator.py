"""The console's administrator: credentials from settings, or generated once and kept (hashed) in
the data dir; signing in goes through the end users' password login (argon2, throttles)."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

from metaledger.api.auth.login import PasswordLogin
from metaledger.api.auth.passwords import Passwords
from metaledger.domain.actor import SYSTEM
from metaledger.domain.user import User

ADMINISTRATOR_FILE = "console-admin.json"
GENERATED_USERNAME = "admin"
# The throttles count console sign-ins under this connection name, apart from end users'.
CONSOLE_REALM = "metaledger-console"


@dataclass(frozen=True)
class Administrator:
    username: str
    password_hash: str

    def as_user(self) -> User:
        """The administrator as the login machinery reads a user (never stored)."""
        return User(
            user_id=f"console|{self.username}",
            connection=CONSOLE_REALM,
            profile={"email": self.username, "password_hash": self.password_hash},
            user_metadata={},
            app_metadata={},
            actor=SYSTEM.as_dict(),
        )


def administrator(
    data_dir: Path, username: str | None, password: str | None, passwords: Passwords
) -> Administrator:
    """The configured administrator, else the one kept in the data dir, else a new one whose
    password is printed once (only its hash is kept)."""
    if username and password:
        return Administrator(username, passwords.hash(password))
    path = data_dir / ADMINISTRATOR_FILE
    if not path.exists():
        _generate(path, passwords)
    stored = json.loads(path.read_text())
    return Administrator(str(stored["username"]), str(stored["password_hash"]))


def console_source(
    data_dir: Path, enabled: bool, username: str | None, password: str | None, base_url: str
) -> str:
    """Where the console is and whose administrator signs in, for the start-up message."""
    if not enabled:
        return "console off (METALEDGER_CONSOLE=true turns it on at /console)"
    if username and password:
        who = f"administrator {username} from METALEDGER_CONSOLE_ADMIN_USERNAME and _PASSWORD"
    else:
        who = f"administrator from {data_dir / ADMINISTRATOR_FILE}"
    return f"console at {base_url}/console ({who})"


def _generate(path: Path, passwords: Passwords) -> None:
    password = secrets.token_urlsafe(18)
    record = {"username": GENERATED_USERNAME, "password_hash": passwords.hash(password)}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: several HTTP processes may start at once, and
    # only the first link wins (the others read the winner's file).
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".console-admin-")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(record, file)
        os.link(temporary, path)
    except FileExistsError:
        return
    finally:
        os.unlink(temporary)
    print(
        f"metaledger: generated the console administrator (its password hash is kept in {path})"
        f":\n  username: {GENERATED_USERNAME}\n  password: {password}",
        file=sys.stderr,
    )


@dataclass(frozen=True)
class ConsoleLogin(PasswordLogin):
    """The end users' login, looking up the administrator instead of a stored user."""

    administrator: Administrator = field(kw_only=True)

    @classmethod
    def beside(cls, login: PasswordLogin, admin: Administrator) -> ConsoleLogin:
        shared = {item.name: getattr(login, item.name) for item in fields(login)}
        return cls(**shared, administrator=admin)

    def sign_in(self, username: str, password: str, ip: str) -> str:
        """The administrator's name; raises LoginRefused (a wrong password, a throttle)."""
        self.authenticate(CONSOLE_REALM, username, password, ip)
        return self.administrator.username

    def _find(self, connection: str, username: str) -> User | None:
        admin = self.administrator
        if connection != CONSOLE_REALM:
            return None
        given, expected = username.strip().lower().encode(), admin.username.lower().encode()
        return admin.as_user() if hmac.compare_digest(given, expected) else None
