"""Logging set-up: level and format from the settings, JSON lines, quiet libraries."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from metaledger.api import logs


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
    for name in logs.QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_json_line_holds_the_message_its_extra_fields_and_the_level() -> None:
    record = logging.LogRecord("metaledger.access", logging.INFO, "", 0, "GET %s", ("/x",), None)
    record.status = 200
    line = orjson.loads(logs.JsonFormatter().format(record))
    assert (line["message"], line["status"], line["level"]) == ("GET /x", 200, "INFO")
    assert line["logger"] == "metaledger.access"
    assert line["time"].endswith("+00:00")


def test_third_party_libraries_log_warnings_only_while_ours_log_at_the_level_set() -> None:
    logs.configure("INFO", "text")
    assert not logging.getLogger("kafka.conn").isEnabledFor(logging.INFO)
    assert logging.getLogger("kafka.conn").isEnabledFor(logging.WARNING)
    assert logging.getLogger("metaledger.relay").isEnabledFor(logging.INFO)


def test_at_debug_the_libraries_speak_too() -> None:
    logs.configure("debug", "json")
    assert logging.getLogger("kafka.conn").isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize(
    ("level", "log_format", "named"),
    [("LOUD", "text", "METALEDGER_LOG_LEVEL"), ("INFO", "xml", "METALEDGER_LOG_FORMAT")],
)
def test_a_bad_level_or_format_is_refused_naming_its_variable(
    level: str, log_format: str, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        logs.configure(level, log_format)
