"""The README's walk-through as written, against a fresh `metaledger serve`: every `sh` block in
order, in one bash that keeps the variables, each output held against the one the README shows
(the conventions: tests/support/readme.py)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from metaledger.api.settings import Settings
from tests.support import readme
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.serve import ServeProcess

EXAMPLES = readme.examples((ROOT / "README.md").read_text())
# Where `make run` serves, as the README's commands say; the test's server has a port of its own.
README_ADDRESS = "127.0.0.1:8000"
# Where `make run` serves its metrics; the test's server has a metrics port of its own too.
README_METRICS_ADDRESS = "127.0.0.1:9464"
RUN_SECONDS = 120
MAX_LEFT_OUT = 5


def marked(kind: str | None) -> list[readme.Example]:
    return [e for e in EXAMPLES if (e.marker[0] if e.marker else None) == kind]


def test_only_blocks_that_need_outside_services_are_left_out_each_saying_why() -> None:
    # Every other block runs below; these need a broker, docker, PostgreSQL or `make` itself.
    left_out = {example.line: example.marker[1] for example in marked("skip") if example.marker}
    assert 0 < len(left_out) <= MAX_LEFT_OUT, left_out
    assert all(reason.strip() for reason in left_out.values())


def test_every_readme_command_prints_what_the_readme_shows(tmp_path: Path) -> None:
    (server,) = marked("server")
    port = free_port()
    data = tmp_path / "var"
    address = f"127.0.0.1:{port}"
    metrics_port = free_port()
    addresses = {README_ADDRESS: address, README_METRICS_ADDRESS: f"127.0.0.1:{metrics_port}"}
    examples = [
        replace(
            example,
            commands=_with(addresses, example.commands),
            output=example.output
            and replace(example.output, text=_with(addresses, example.output.text)),
        )
        for example in marked(None)
    ]
    with ServeProcess(
        Settings(port=port, data_dir=data),
        port,
        1,
        tmp_path / "serve.log",
        {
            **readme.server_environment(server.commands),
            "METALEDGER_METRICS_PORT": str(metrics_port),
        },
    ):
        printed = run_in_one_shell(examples, data, tmp_path / "outputs")
    differences = []
    for example, output in zip(examples, printed, strict=True):
        if example.output is None:
            difference = f"printed {output!r}" if output else None
        else:
            difference = readme.mismatch(example.output, output)
        if difference is not None:
            differences.append(f"README line {example.line}: {difference}")
    assert not differences, "\n".join(differences)


def _with(addresses: dict[str, str], text: str) -> str:
    """`text` with the README's addresses replaced by the test server's."""
    for readme_address, address in addresses.items():
        text = text.replace(readme_address, address)
    return text


def run_in_one_shell(examples: list[readme.Example], data: Path, outputs: Path) -> list[str]:
    """Runs the blocks in order in one bash, in the repository's root as the README says, with
    `set -euo pipefail` so that a failing command or an unset variable stops the run; returns
    each block's stdout. `.venv/bin/metaledger` reads the server's store through the data dir."""
    outputs.mkdir()
    script = ["set -euo pipefail"]
    for number, example in enumerate(examples):
        script.append(
            f"{{\n{example.commands}}} > {outputs}/{number}.out 2> {outputs}/{number}.err\n"
            f": > {outputs}/{number}.done"
        )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("METALEDGER_")}
    environment["METALEDGER_DATA_DIR"] = str(data)
    run = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    for number, example in enumerate(examples):
        if not (outputs / f"{number}.done").exists():
            stdout, stderr = ((outputs / f"{number}.{kind}").read_text() for kind in ("out", "err"))
            pytest.fail(
                f"README line {example.line} failed (bash exit {run.returncode}):\n"
                f"{stderr}{run.stderr}\nit printed:\n{stdout}"
            )
    return [(outputs / f"{number}.out").read_text() for number in range(len(examples))]
