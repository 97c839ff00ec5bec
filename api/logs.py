"""Logging for every `metaledger` process: a level and a format (`text` or `json`) from the
settings, and third-party libraries quiet unless something is wrong.

kafka-python logs each connection and metadata refresh at INFO, which buried the service's own
lines (53 of 55 lines of `consume entitlements`); those libraries log at WARNING and above.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

FORMATS = ("text", "json")
QUIET_LIBRARIES = ("kafka", "eventsourcing", "psycopg", "httpx", "urllib3", "asyncio")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; the others were passed in `extra` and go into the JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the `extra` fields, and the
    exception's traceback as text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{key: value for key, value in vars(record).items() if key not in _STANDARD},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Sets up the root logger once per process; a bad level or format raises ValueError."""
    if log_format not in FORMATS:
        raise ValueError(
            f"METALEDGER_LOG_FORMAT must be one of {', '.join(FORMATS)}: {log_format!r}"
        )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"METALEDGER_LOG_LEVEL is not a logging level: {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    # At DEBUG everything speaks; otherwise the libraries only warn.
    libraries = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(libraries)
