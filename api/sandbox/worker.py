"""A sandbox worker process: runs tenant JavaScript in QuickJS, one context per configuration.

It speaks line-delimited JSON on stdin/stdout with the pool (`pool.py`). A `run` message names a
configuration by key (sending its setup when this worker may not have it) and carries the
login's input; the worker pumps the engine's job queue, sends the effects the code queued
(`effects`) and waits for their `answers`, and ends with `done` or `failed`. The engine's time
limit counts process CPU time, so it is re-armed with the wall time left before every step; the
pool keeps its own wall deadline and kills a worker that overruns it.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
import quickjs

# Contexts kept per worker (least recently used dropped): one per tenant configuration.
CONTEXTS_KEPT = 4
# Address space of the whole worker: the contexts' own caps, the interpreter, headroom.
ADDRESS_SPACE_BYTES = 1024 * 1024 * 1024
MODULES = ("lodash", "moment")
REQUIRED = re.compile(r"""require\(\s*['"](@?[^'"@]+)(?:@[^'"]*)?['"]\s*\)""")
UUID_BYTES = 64


class Stop(Exception):
    """The pool went away (end of input): the worker exits."""


class Failed(Exception):
    """The run cannot finish: `kind` says why (timeout, memory, stalled, crashed)."""

    def __init__(self, kind: str, message: str, source: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.source = source


def _source(name: str) -> str:
    return resources.files("metaledger.api.sandbox").joinpath(name).read_text()


PRELUDE = _source("prelude.js")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _script(text: str) -> str:
    """A rule is an expression: a trailing `;` would end it early, so it is dropped."""
    return text.rstrip().rstrip(";")


class Configuration:
    """One context holding the prelude, the modules the code requires, the configuration
    object and the compiled rules and actions, or a custom-database connection's scripts."""

    def __init__(self, setup: dict[str, Any], memory_bytes: int, deadline: float) -> None:
        self.context = quickjs.Context()
        self.context.set_memory_limit(memory_bytes)
        self._arm(deadline)
        self.context.eval(PRELUDE)
        code = " ".join(
            [rule["script"] for rule in setup["rules"]]
            + [action["code"] for action in setup["actions"]]
            + list(setup.get("scripts", {}).values())
        )
        for name in sorted(set(REQUIRED.findall(code)) & set(MODULES)):
            self._eval(
                f"__ml.module({_json(name)}, function (module, exports) {{\n"
                f"{_source(f'modules/{name}.js')}\n}})",
                deadline,
            )
        self._eval(
            f"globalThis.configuration = Object.freeze({_json(setup['configuration'])});"
            f"auth0.domain = {_json(setup['domain'])}; auth0.baseUrl = {_json(setup['base_url'])};",
            deadline,
        )
        for rule in setup["rules"]:
            head = f"__ml.rule({_json(rule['id'])}, {_json(rule['name'])}, "
            self._compile(
                head, f"function () {{ return (\n{_script(rule['script'])}\n); }})", deadline
            )
        for name, script in setup.get("scripts", {}).items():
            self._compile(
                f"__ml.script({_json(name)}, ",
                f"function () {{ return (\n{_script(script)}\n); }})",
                deadline,
            )
        for action in setup["actions"]:
            head = (
                f"__ml.action({_json(action['id'])}, {_json(action['name'])}, "
                f"{_json(action['secrets'])}, "
            )
            self._compile(
                head, f"function (module, exports, require) {{\n{action['code']}\n}})", deadline
            )

    def _compile(self, head: str, loader: str, deadline: float) -> None:
        """Registers one rule or action (`head` + its loader function); one that does not
        compile is registered as a function that throws its syntax error when it runs."""
        try:
            self._eval(head + loader, deadline)
        except quickjs.JSException as error:
            if _interrupted(error) or _out_of_memory(error):
                raise
            first_line = _json(str(error).split("\n", 1)[0])
            self._eval(f"{head}function () {{ throw new SyntaxError({first_line}); }})", deadline)

    def _arm(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failed("timeout", "the script ran out of time")
        self.context.set_time_limit(left)

    def _eval(self, text: str, deadline: float) -> Any:
        self._arm(deadline)
        return self.context.eval(text)

    def run(
        self,
        run_input: dict[str, Any],
        deadline: float,
        exchange: Callable[[list[Any]], list[Any]],
    ) -> dict[str, Any]:
        bytes_ = list(secrets.token_bytes(UUID_BYTES))
        self._eval(f"__ml.start({_json(run_input)}, {_json(bytes_)})", deadline)
        while True:
            self._arm(deadline)
            while self.context.execute_pending_job():
                self._arm(deadline)
            snapshot = orjson.loads(self._eval("__ml.take()", deadline))
            if snapshot["done"]:
                return {"result": snapshot["result"], "logs": snapshot["logs"]}
            if not snapshot["outbox"]:
                raise Failed(
                    "stalled",
                    "the script stopped without finishing (a rule that never calls callback?)",
                    snapshot["source"],
                )
            answers = exchange(snapshot["outbox"])
            self._eval(f"__ml.deliver({_json(answers)})", deadline)


def _interrupted(error: Exception) -> bool:
    return "interrupted" in str(error)


def _out_of_memory(error: Exception) -> bool:
    return "out of memory" in str(error)


def _failure(error: Exception) -> Failed:
    if isinstance(error, Failed):
        return error
    if _interrupted(error):
        return Failed("timeout", "the script ran out of time")
    if _out_of_memory(error):
        return Failed("memory", "the script ran out of memory")
    if isinstance(error, quickjs.StackOverflow):
        return Failed("memory", "the script overflowed its stack")
    return Failed("crashed", str(error).split("\n", 1)[0])


class Worker:
    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.contexts: OrderedDict[str, Configuration] = OrderedDict()
        self.stdin = sys.stdin.buffer
        self.stdout = sys.stdout.buffer

    def send(self, message: dict[str, Any]) -> None:
        self.stdout.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
        self.stdout.flush()

    def receive(self) -> dict[str, Any]:
        line = self.stdin.readline()
        if not line:
            raise Stop
        message: dict[str, Any] = orjson.loads(line)
        return message

    def exchange(self, effects: list[Any]) -> list[Any]:
        self.send({"type": "effects", "effects": effects})
        answers: list[Any] = self.receive()["answers"]
        return answers

    def serve(self) -> None:
        while True:
            message = self.receive()
            deadline = time.monotonic() + float(message["seconds"])
            key = message["key"]
            try:
                configuration = self._configuration(key, message.get("setup"), deadline)
                if configuration is None:
                    self.send({"type": "setup"})
                    continue
                done = configuration.run(message["input"], deadline, self.exchange)
            except Stop:
                raise
            except Exception as error:  # whatever the code did, this worker serves on
                # A context that was interrupted or ran out of memory is not trusted again.
                self.contexts.pop(key, None)
                failure = _failure(error)
                self.send(
                    {
                        "type": "failed",
                        "kind": failure.kind,
                        "message": failure.message,
                        "source": failure.source,
                    }
                )
                continue
            self.send({"type": "done", **done})

    def _configuration(
        self, key: str, setup: dict[str, Any] | None, deadline: float
    ) -> Configuration | None:
        found = self.contexts.get(key)
        if found is not None:
            self.contexts.move_to_end(key)
            return found
        if setup is None:
            return None
        created = Configuration(setup, self.memory_bytes, deadline)
        self.contexts[key] = created
        while len(self.contexts) > CONTEXTS_KEPT:
            self.contexts.popitem(last=False)
        return created


def main() -> None:
    memory_bytes = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    # The pool, not a terminal, stops this process: an interrupt reaches the whole group.
    os.setpgrp()
    try:
        Worker(memory_bytes).serve()
    except (Stop, BrokenPipeError):
        return


if __name__ == "__main__":
    main()
