"""The built wheel: one top-level package, `metaledger`, holding every module and data file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCE_FOLDERS = ("domain", "api", "projections", "consumers")
DATA_FILES = (
    "projections/relay/cloudevent.schema.json",
    "api/sandbox/prelude.js",
    "api/sandbox/modules/lodash.js",
    "api/sandbox/modules/moment.js",
    # the console's templates, stylesheet and script
    *sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("templates", "static")
        for path in (ROOT / "api/http/console" / folder).iterdir()
    ),
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tree: built in place, setuptools would write into
    build/ and reuse what it left there, so a deleted module could still ship."""
    source = tmp_path_factory.mktemp("source")
    for entry in ROOT.iterdir():  # pyproject.toml and the files it names (the readme)
        if entry.is_file():
            shutil.copy2(entry, source)
    for folder in SOURCE_FOLDERS:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("wheel")
    # With build isolation: pyproject.toml wants a newer setuptools than the venv may hold.
    _pip("wheel", "--no-deps", "--wheel-dir", str(out), str(source))
    (built,) = out.glob("*.whl")
    return built


def _pip(*args: str) -> None:
    # Not captured here: pytest shows pip's output when a build or an install fails.
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def _site_packages(python: Path) -> Path:
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(found.stdout.strip())


def test_installing_the_wheel_adds_only_the_metaledger_package_and_its_dist_info(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    # No pip inside: the test's own pip installs into it, which saves seeding one.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = _site_packages(python)
    before = {entry.name for entry in site_packages.iterdir()}

    _pip("--python", str(python), "install", "--no-deps", str(wheel))

    name, version = wheel.name.split("-")[:2]
    added = {entry.name for entry in site_packages.iterdir()} - before
    assert added == {"metaledger", f"{name}-{version}.dist-info"}


def test_the_wheel_holds_every_module_data_file_and_py_typed_of_the_four_packages(
    wheel: Path,
) -> None:
    expected = {
        f"metaledger/{module.relative_to(ROOT).as_posix()}"
        for folder in SOURCE_FOLDERS
        for module in (ROOT / folder).rglob("*.py")
    }
    expected |= {f"metaledger/{path}" for path in DATA_FILES}
    expected |= {f"metaledger/{folder}/py.typed" for folder in SOURCE_FOLDERS}
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert sorted(expected - shipped) == []
