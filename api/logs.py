"""Logging for every `metaledger` process: a level and a format from the settings, secrets kept
out of every line, and third-party libraries quiet unless something is wrong.

Formats: `json` (one object a line, for log collectors), `text` (for people), and `auto`, the
default: text when stderr is a terminal, JSON otherwise. Whatever the format, a token, password,
client secret, password hash or private key that reaches a message, a field or a traceback is
replaced by `[redacted]` before the line is written.

kafka-python logs each connection and metadata refresh at INFO, which buried the service's own
lines (53 of 55 lines of `consume entitlements`); those libraries log at WARNING and above.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

FORMATS = ("auto", "text", "json")
QUIET_LIBRARIES = ("kafka", "eventsourcing", "psycopg", "httpx", "urllib3", "asyncio")
ACCESS_LOGGER = "metaledger.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; the others were passed in `extra` and go into the JSON line
# (but uvicorn's copy of its message with terminal colours).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}
REDACTED = "[redacted]"
_SECRET_KEYS = (
    r"password(?:_hash)?|client_secret|secret|access_token|id_token|refresh_token|"
    r"authorization|signing_key"
)
_SECRETS = re.compile(
    # a JWT (three base64url parts, the first a JSON header)
    r"eyJ[\w-]+\.[\w-]+\.[\w-]*"
    # an argon2 (or other PHC-format) password hash
    r"|\$argon2(?:id|i|d)\$[^\s\"']+"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|(?i:bearer|basic)\s+[^\s\"',}]+"
    # a secret by its name: `password=…`, `"client_secret": "…"`, `'password': '…'`
    rf"|(?i:(?P<key>[\"']?(?:{_SECRET_KEYS})[\"']?\s*[:=]\s*))"
    r"(?:(?i:bearer|basic)\s+)?(?:\"[^\"]*\"|'[^']*'|[^\s,&}]+)",
    re.DOTALL,
)


# What every secret above contains (lowercased): a line without any of them is left as it is,
# which spares most lines the expression (a request's line, tens of microseconds otherwise).
_TRIGGERS = (
    "eyj",
    "$argon2",
    "private key",
    "bearer",
    "basic",
    "password",
    "secret",
    "token",
    "authorization",
    "signing_key",
)


def redact(text: str) -> str:
    """`text` with every secret in it replaced."""
    return _SECRETS.sub(_replacement, text) if _has_trigger(text) else text


def _has_trigger(text: str) -> bool:
    lowered = text.lower()
    for trigger in _TRIGGERS:  # noqa: SIM110 (a plain loop: a generator costs more)
        if trigger in lowered:
            return True
    return False


def _replacement(match: re.Match[str]) -> str:
    key = match.group("key")
    return f"{key}{REDACTED}" if key else REDACTED


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process id (serve runs several), message,
    the `extra` fields, and the exception's traceback as text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
            **{
                key: value
                for key, value in vars(record).items()
                if key not in _STANDARD and value is not None
            },
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        text = orjson.dumps(line, default=str).decode()
        # A secret in any field shows in the whole line: the line is checked once, and only one
        # with a trigger (rarely a request's line) is redacted field by field.
        if not _has_trigger(text):
            return text
        redacted = {key: _redacted(value) for key, value in line.items()}
        return orjson.dumps(redacted, default=lambda value: redact(str(value))).decode()


class TextFormatter(logging.Formatter):
    """The line people read, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def resolve_format(log_format: str) -> str:
    """`text` or `json`: `auto` is text on a terminal, JSON otherwise."""
    if log_format != "auto":
        return log_format
    return "text" if sys.stderr.isatty() else "json"


def configure(level: str = "INFO", log_format: str = "auto", access_lines: bool = True) -> None:
    """Sets up the root logger once per process; a bad level or format raises ValueError.
    Without `access_lines`, requests are logged only when they fail on the server's side."""
    if log_format not in FORMATS:
        raise ValueError(
            f"METALEDGER_LOG_FORMAT must be one of {', '.join(FORMATS)}: {log_format!r}"
        )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"METALEDGER_LOG_LEVEL is not a logging level: {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if resolve_format(log_format) == "json" else TextFormatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    # Warnings and uncaught exceptions become log lines too, rather than raw text that a log
    # collector reading JSON lines would choke on.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    # At DEBUG everything speaks; otherwise the libraries only warn.
    libraries = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(libraries)
    # Behind a proxy that logs every request already, the line is a second copy, and the
    # largest cost metaledger adds to a short request (~14 % of a warm GET's processor time).
    access = logging.NOTSET if access_lines else max(numeric, logging.WARNING)
    logging.getLogger(ACCESS_LOGGER).setLevel(access)


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("metaledger").critical(
        "uncaught %r", error, exc_info=(kind, error, traceback)
    )


def _log_uncaught_in_thread(uncaught: threading.ExceptHookArgs) -> None:
    if uncaught.exc_value is None:  # SystemExit(None) and the like: nothing to say
        return
    logging.getLogger("metaledger").error(
        "uncaught %r in thread %s",
        uncaught.exc_value,
        uncaught.thread.name if uncaught.thread is not None else "?",
        exc_info=(uncaught.exc_type, uncaught.exc_value, uncaught.exc_traceback),
    )
