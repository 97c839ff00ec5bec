"""The layout's rules, read off the source: who may import whom, and where the backend is chosen.

Each module's imports are read from its syntax tree (nothing is imported), so a rule broken
anywhere in the four packages fails here with the module and the edge that breaks it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "api", "consumers")
STORAGE = "metaledger.domain.storage"
# The adapters of other stores, and the composition root: they may use the storage package's
# public face (store locations, the SQL dialect); nothing outside it may use its modules.
STORAGE_FACE_USERS = (
    "metaledger.domain.",
    "metaledger.api.settings",
    "metaledger.api.stores",
    "metaledger.api.auth.failure_store",
    "metaledger.projections.search.",
    "metaledger.projections.audit.",
    "metaledger.projections.readmodel",
    "metaledger.consumers.database",
)
FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "kafka", "psycopg_pool")


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield "metaledger." + ".".join(parts), path


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = dict(modules())
IMPORTS = {name: imports_of(path) for name, path in MODULES.items()}


def edges(rule: str) -> list[str]:
    """`module -> imported` lines for the imports that break `rule`."""
    broken = []
    for module, imported in sorted(IMPORTS.items()):
        for name in sorted(imported):
            if RULES[rule](module, name):
                broken.append(f"{module} -> {name}")
    return broken


def _is_module(name: str) -> bool:
    return name in MODULES


RULES: dict[str, Callable[[str, str], bool]] = {
    # Only the storage package itself, and the application that it configures (the mapper and
    # the event store), reach its modules; others use its public face.
    "storage internals": lambda module, name: (
        name.startswith(STORAGE + ".")
        and _is_module(name)
        and not module.startswith(STORAGE)
        and module != "metaledger.domain.application"
    ),
    "storage face": lambda module, name: (
        name == STORAGE
        and not module.startswith(STORAGE)
        and not module.startswith(STORAGE_FACE_USERS)
    ),
    # The domain knows nothing of the web, Kafka, the projections or the entry points.
    "domain purity": lambda module, name: (
        module.startswith("metaledger.domain")
        and (
            name.split(".")[0] in FRAMEWORKS
            or name.startswith(("metaledger.api", "metaledger.projections", "metaledger.consumers"))
        )
    ),
    # Projections and consumers serve the entry points, never the other way round.
    "followers below the entry points": lambda module, name: (
        module.startswith(("metaledger.projections", "metaledger.consumers"))
        and name.startswith("metaledger.api")
    ),
    # The tenant-code sandbox is called by the login pipeline, not by the web layer's types.
    "sandbox without the web": lambda module, name: (
        module.startswith("metaledger.api.sandbox")
        and (
            name.split(".")[0] in ("fastapi", "starlette") or name.startswith("metaledger.api.http")
        )
    ),
    # The authentication component is not a web component.
    "auth without the web": lambda module, name: (
        module.startswith("metaledger.api.auth")
        and (
            name.split(".")[0] in ("fastapi", "starlette") or name.startswith("metaledger.api.http")
        )
    ),
    # Every import of the project's code goes through the one top-level name.
    "one top-level name": lambda module, name: name.split(".")[0] in PACKAGES,
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_no_import_breaks_the_layout_rule(rule: str) -> None:
    assert edges(rule) == []


def test_the_rules_see_the_modules_they_guard() -> None:
    # A rule over no modules would pass for the wrong reason.
    assert "metaledger.domain.storage.recorders" in MODULES
    assert "metaledger.api.http.routes.users" in IMPORTS
    assert STORAGE + ".shredding" in IMPORTS["metaledger.domain.application"]


def test_no_recorder_is_cast_to_an_interface() -> None:
    # The tables beside the events are reached through typed accessors that the type checker
    # holds to the domain's ports.
    casts = [
        f"{name}: {match.group(0)}"
        for name, path in MODULES.items()
        for match in re.finditer(r"cast\([^()]*recorder[^()]*\)", path.read_text())
    ]
    assert casts == []


def test_the_database_url_is_parsed_in_one_place() -> None:
    parsing = sorted(
        name
        for name, path in MODULES.items()
        if re.search(r"urlparse\(\s*database_url", path.read_text())
    )
    readers = sorted(
        name
        for name, path in MODULES.items()
        if "database_url" in path.read_text() and name not in ("metaledger.api.settings",)
    )
    assert parsing == [STORAGE + ".location"]
    assert readers == [STORAGE + ".location"]
