"""Hostile tenant code against the real worker pool: each case fails its own run with a clear
error, the worker is replaced when it cannot be trusted, and the next run succeeds."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from metaledger.api.sandbox.pool import SandboxFailure, Setup, WorkerPool

DEADLINE = 1.0
HONEST = (
    "function (u, context, callback) { context.idToken.ok = true; callback(null, u, context); }"
)
HOSTILE = {
    "endless loop": ("function (u, c, cb) { while (true) {} }", "timeout"),
    "loop in a promise": (
        "function (u, c, cb) { Promise.resolve().then(function () { for (;;) {} }); }",
        "timeout",
    ),
    "memory bomb": (
        "function (u, c, cb) { var a = []; for (;;) a.push(new Array(1e5).fill(1)); }",
        "error",
    ),
    "deep recursion": ("function (u, c, cb) { (function f() { return f() + 1; })(); }", "error"),
    "never calls callback": ("function (u, c, cb) { }", "stalled"),
    "syntax error": ("function (u, c, cb) { if ( }", "error"),
}


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(1, 64 * 1024 * 1024)
    yield workers
    workers.close()


def setup(script: str) -> Setup:
    body = {
        "rules": [{"id": "rul_1", "name": "tested", "script": script}],
        "actions": [],
        "configuration": {},
        "domain": "metaledger.test",
        "base_url": "http://metaledger.test/",
    }
    return Setup(str(hash(script)), body)


def run(pool: WorkerPool, script: str) -> dict[str, Any]:
    run_input = {
        "user": {"user_id": "auth0|1"},
        "context": {"idToken": {}, "accessToken": {}},
        "event": "{}",
        "trigger": "onExecutePostLogin",
    }
    result: dict[str, Any] = pool.run(setup(script), run_input, DEADLINE, lambda effects: [])[
        "result"
    ]
    return result


def outcome_of(pool: WorkerPool, script: str) -> str:
    """`ok`, the run's failure kind, or `error` for an error the code raised."""
    try:
        outcome = run(pool, script)["outcome"]
    except SandboxFailure as failure:
        return failure.kind
    return str(outcome["kind"])


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_code_fails_its_run_and_the_next_run_succeeds(pool: WorkerPool, case: str) -> None:
    script, expected = HOSTILE[case]
    kind = outcome_of(pool, script)
    # A memory bomb or a stack overflow is an error the engine raises inside the rule (as
    # "out of memory" or a RangeError): the run fails with it, like any error the code raises.
    assert kind == expected
    assert run(pool, HONEST)["context"]["idToken"] == {"ok": True}


def test_an_error_names_the_rule_that_raised_it(pool: WorkerPool) -> None:
    outcome = run(pool, "function (u, c, cb) { cb(new Error('boom')); }")["outcome"]
    assert (outcome["message"], outcome["source"]["name"]) == ("boom", "tested")


def test_a_worker_killed_by_a_signal_is_replaced(pool: WorkerPool) -> None:
    run(pool, HONEST)
    for sig in (signal.SIGKILL, signal.SIGSEGV):
        (pid,) = pool.workers()
        os.kill(pid, sig)
        with pytest.raises(SandboxFailure) as failed:
            run(pool, HONEST)
        assert failed.value.kind == "crashed"
        assert run(pool, HONEST)["context"]["idToken"] == {"ok": True}
        assert pool.workers() != [pid]


def test_global_persists_between_runs_of_one_configuration(pool: WorkerPool) -> None:
    counter = (
        "function (u, c, cb) { global.n = (global.n || 0) + 1; c.idToken.n = global.n; "
        "cb(null, u, c); }"
    )
    assert [run(pool, counter)["context"]["idToken"]["n"] for _ in range(3)] == [1, 2, 3]


def test_an_unlisted_module_is_not_available(pool: WorkerPool) -> None:
    outcome = run(pool, "function (u, c, cb) { require('fs'); cb(null, u, c); }")["outcome"]
    assert outcome["message"] == "module not available: fs"


def test_vendored_modules_load(pool: WorkerPool) -> None:
    script = (
        "function (u, c, cb) { var _ = require('lodash'); var moment = require('moment@2.30.1');"
        " c.idToken.sum = _.sum([1, 2]); c.idToken.year = moment(0).utc().format('YYYY');"
        " c.idToken.uuid = require('uuid').v4().length; cb(null, u, c); }"
    )
    assert run(pool, script)["context"]["idToken"] == {"sum": 3, "year": "1970", "uuid": 36}


def test_code_that_replaces_json_harms_only_its_own_claims(pool: WorkerPool) -> None:
    script = (
        "function (u, c, cb) { JSON.stringify = function () { return 'garbage'; };"
        " c.idToken.ok = true; cb(null, u, c); }"
    )
    assert run(pool, script)["context"]["idToken"] == {"ok": True}


def test_an_action_named_with_a_percent_sign_that_does_not_compile_fails_alone(
    pool: WorkerPool,
) -> None:
    body = {
        "rules": [],
        "actions": [{"id": "a1", "name": "100% broken", "secrets": {}, "code": "exports. = ;"}],
        "configuration": {},
        "domain": "metaledger.test",
        "base_url": "http://metaledger.test/",
    }
    run_input = {"user": {}, "context": {}, "event": "{}", "trigger": "onExecutePostLogin"}
    outcome = pool.run(Setup("broken", body), run_input, DEADLINE, lambda effects: [])["result"]
    assert outcome["outcome"]["kind"] == "error"
    assert outcome["outcome"]["message"].startswith('action "100% broken" does not load')


def test_a_worker_started_past_the_first_1024_descriptors_serves_its_runs() -> None:
    """A long-running server holds many descriptors, so a worker's pipes may number over 1,024
    (where select() refuses them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        workers = WorkerPool(1, 64 * 1024 * 1024)
        try:
            assert run(workers, HONEST)["outcome"]["kind"] == "ok"
        finally:
            workers.close()
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
