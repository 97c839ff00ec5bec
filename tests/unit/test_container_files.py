"""The container image and the compose stack keep secrets and data out, and start only when
given secrets of their own (read off the files: no Docker engine is needed)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "compose" / "Dockerfile").read_text()
COMPOSE = (ROOT / "compose" / "docker-compose.yml").read_text()


def test_the_build_context_leaves_out_data_secrets_the_virtualenv_and_tests() -> None:
    # The classic builder reads only a .dockerignore at the root of the build context.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"var", ".venv", "tests", ".git"} <= set(ignored)


def test_the_image_installs_dependencies_before_it_copies_the_source() -> None:
    copies = re.findall(r"^COPY (\S+)", DOCKERFILE, re.MULTILINE)
    assert copies[0] == "pyproject.toml"
    assert "." not in copies
    assert "tests" not in copies
    assert DOCKERFILE.index("pip install -r") < DOCKERFILE.index("COPY domain")


def test_the_stack_refuses_to_start_without_its_secrets() -> None:
    assert "${METALEDGER_ADMIN_CLIENT_SECRET:?" in COMPOSE
    assert "${POSTGRES_PASSWORD:?" in COMPOSE
    assert "change-me" not in COMPOSE
    assert not re.search(r"POSTGRES_PASSWORD: metaledger\b", COMPOSE)


def test_postgresql_is_not_published_on_the_host() -> None:
    postgres = COMPOSE.split("\n  postgres:\n", 1)[1].split("\n  api:\n", 1)[0]
    assert "ports:" not in postgres
