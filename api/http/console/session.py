"""The console's session: a short-lived token signed with the server's key, kept in an HttpOnly,
SameSite=Strict cookie (never in the page's storage), carrying the CSRF token its forms echo."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import jwt
from starlette.requests import Request
from starlette.responses import Response

from metaledger.api.auth.keys import SigningKey
from metaledger.api.http.console.administrator import Administrator

COOKIE = "metaledger_console"
LOGIN_COOKIE = "metaledger_console_login"
PATH = "/console"
LIFETIME_SECONDS = 8 * 3600
LOGIN_FORM_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    username: str
    csrf: str

    def csrf_matches(self, sent: str) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), sent.encode())


@dataclass(frozen=True)
class Sessions:
    key: SigningKey
    audience: str  # not the Management API's: a console session is no bearer token
    administrator: Administrator

    def open(self, username: str) -> str:
        now = int(time.time())
        claims = {
            "aud": self.audience,
            "sub": username,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
            "csrf": secrets.token_urlsafe(32),
            "pwd": self._password_mark(),
        }
        return jwt.encode(claims, self.key.private_key, "RS256", headers={"kid": self.key.kid})

    def read(self, request: Request) -> Session | None:
        """The request's session; None when absent, expired, forged, or from before the
        administrator's password changed."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            claims = jwt.decode(
                token, self.key.public_key, algorithms=["RS256"], audience=self.audience
            )
        except jwt.InvalidTokenError:
            return None
        if claims.get("sub") != self.administrator.username or claims.get("pwd") != (
            self._password_mark()
        ):
            return None
        return Session(str(claims["sub"]), str(claims["csrf"]))

    def _password_mark(self) -> str:
        return hashlib.sha256(self.administrator.password_hash.encode()).hexdigest()[:16]


def set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    max_age: int,
    path: str = PATH,
    samesite: Literal["strict", "lax"] = "strict",
) -> None:
    """HttpOnly always (SameSite=Strict unless told); Secure when reached over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite=samesite,
        secure=request.url.scheme == "https",
    )


def login_form_token(request: Request, cookie: str = LOGIN_COOKIE) -> str:
    """A sign-in form's CSRF token: the one its cookie holds, or a new one."""
    return request.cookies.get(cookie) or secrets.token_urlsafe(32)


def login_form_matches(request: Request, sent: str, cookie: str = LOGIN_COOKIE) -> bool:
    held = request.cookies.get(cookie, "")
    return bool(held and sent) and hmac.compare_digest(held.encode(), sent.encode())
