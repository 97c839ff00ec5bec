"""Logging set-up: level and format from the settings, JSON lines, secrets redacted, quiet
libraries."""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import orjson
import pytest

from metaledger.api import logs


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:], root.level = handlers, level
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
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


def test_without_access_lines_only_requests_failing_on_the_server_are_logged() -> None:
    logs.configure("INFO", "json", access_lines=False)
    access = logging.getLogger(logs.ACCESS_LOGGER)
    assert not access.isEnabledFor(logging.INFO)  # 2xx, 3xx, 4xx
    assert access.isEnabledFor(logging.WARNING)  # 5xx
    assert logging.getLogger("metaledger.serve").isEnabledFor(logging.INFO)
    logs.configure("INFO", "json")
    assert access.isEnabledFor(logging.INFO)


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


class _Terminal:
    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def _formatter() -> logging.Formatter | None:
    return logging.getLogger().handlers[0].formatter


def test_auto_writes_json_when_no_terminal_is_attached() -> None:
    logs.configure("INFO", "auto")  # pytest captures stderr: not a terminal
    assert isinstance(_formatter(), logs.JsonFormatter)


def test_auto_writes_text_for_people_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", _Terminal())
    logs.configure("INFO", "auto")
    assert isinstance(_formatter(), logs.TextFormatter)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("password=hunter2 next", "password=[redacted] next"),
        ('{"password": "correct horse", "a": 1}', '{"password": [redacted], "a": 1}'),
        ("{'client_secret': 'abc def'}", "{'client_secret': [redacted]}"),
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln end", "token [redacted] end"),
        ("hash $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA x", "hash [redacted] x"),
        ("key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "key [redacted]"),
        ("GET /api/v2/users/auth0|abc 200 1.2 ms", "GET /api/v2/users/auth0|abc 200 1.2 ms"),
    ],
)
def test_secrets_are_redacted_and_the_rest_is_kept(text: str, redacted: str) -> None:
    assert logs.redact(text) == redacted


def test_a_secret_in_an_extra_field_or_a_traceback_is_redacted_in_json() -> None:
    try:
        raise ValueError("password=hunter2")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "", 0, "failed", (), sys.exc_info())
    record.body = '{"client_secret": "s3cret"}'
    line = logs.JsonFormatter().format(record)
    assert "hunter2" not in line
    assert "s3cret" not in line
    assert orjson.loads(line)["body"] == '{"client_secret": [redacted]}'


def test_a_secret_in_a_field_that_is_not_text_is_redacted_in_json() -> None:
    class Header:
        def __str__(self) -> str:
            return "Bearer abc.def.ghi"

    record = logging.LogRecord("x", logging.INFO, "", 0, "sent", (), None)
    record.header = Header()
    line = logs.JsonFormatter().format(record)
    assert "abc.def" not in line
    assert orjson.loads(line)["header"] == "[redacted]"


def test_warnings_and_uncaught_exceptions_become_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("INFO", "json")
    warnings.warn("an old API", DeprecationWarning, stacklevel=1)

    def fail() -> None:
        raise RuntimeError("password=hunter2")

    thread = threading.Thread(target=fail, name="worker")
    thread.start()
    thread.join()
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("py.warnings", "WARNING"),
        ("metaledger", "ERROR"),
    ]
    assert "an old API" in lines[0]["message"]
    assert lines[1]["message"].endswith("in thread worker")
    assert "hunter2" not in lines[1]["exception"]
