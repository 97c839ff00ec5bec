"""Outgoing HTTP from rules (`request`, `fetch`, `axios`) through the egress client: allowlisted
hosts answer, others are refused with a clear error, on both stores."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metaledger.api.bootstrap import Container
from metaledger.api.sandbox.pipeline import CodeRefused
from metaledger.api.settings import Settings
from tests.integration.sandbox.test_rule_templates import log_in, user_with, with_rule


class Echo(BaseHTTPRequestHandler):
    """Answers every request with its method and body, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        reply = json.dumps({"method": self.command, "body": body, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _answer  # noqa: N815 (the handler's names)

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(sandbox_egress_hosts=frozenset({"127.0.0.1"}))


def test_request_posts_json_and_reads_the_answer(container: Container, echo: str) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        """function (user, context, callback) {
  var request = require('request');
  request.post({url: 'ECHO/hooks', json: {user: user.email}}, function (err, response, body) {
    if (err) return callback(err);
    context.idToken['https://example.com/echo'] = [response.statusCode, body.method, body.body];
    callback(null, user, context);
  });
}""".replace("ECHO", echo),
    )
    claims = log_in(container, user)
    assert claims.id_token["https://example.com/echo"] == [
        200,
        "POST",
        '{"user":"jane@example.com"}',
    ]


def test_fetch_and_axios_reach_an_allowed_host(container: Container, echo: str) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        """function (user, context, callback) {
  var axios = require('axios');
  fetch('ECHO/a').then(function (r) { return r.json(); }).then(function (a) {
    return axios.get('ECHO/b').then(function (b) {
      context.idToken['https://example.com/paths'] = [a.path, b.data.path];
      callback(null, user, context);
    });
  }).catch(callback);
}""".replace("ECHO", echo),
    )
    assert log_in(container, user).id_token == {"https://example.com/paths": ["/a", "/b"]}


def test_a_host_off_the_allowlist_is_refused(container: Container) -> None:
    user = user_with(container, "jane@example.com")
    with_rule(
        container,
        """function (user, context, callback) {
  require('request').get('https://example.org/', function (err) { callback(err); });
}""",
    )
    with pytest.raises(CodeRefused) as refused:
        log_in(container, user)
    assert refused.value.message == 'rule "template": host not allowed: example.org'
