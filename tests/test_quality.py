"""The code base's own checks, run as part of the suite: mypy --strict, ruff, and the
public API's exports."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import flightlog

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = {"format": "format", "writer": "writer", "syncd": "syncd", "server": "server"}


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the 'test' extra (pip install -e .[test])")
    return found


def _package_tree(tmp_path: Path) -> Path:
    """flightlog as one directory tree: the design card keeps format/, writer/, ... at the
    top level and setuptools maps them (package-dir); mypy cannot follow that mapping."""
    pkg = tmp_path / "flightlog"
    pkg.mkdir()
    for item in (ROOT / "flightlog").iterdir():
        (pkg / item.name).symlink_to(item)
    for sub, folder in SUBPACKAGES.items():
        (pkg / sub).symlink_to(ROOT / folder)
    return tmp_path


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    tree = _package_tree(tmp_path)
    result = subprocess.run(
        [_tool("mypy"), "--strict", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "flightlog"],
        cwd=tree, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "flightlog", "format", "writer", "syncd",
                             "server", "tests", "bench", "examples"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_public_names_are_exported() -> None:
    for name in flightlog.__all__:
        assert hasattr(flightlog, name), name
    public = {n for n in vars(flightlog) if not n.startswith("_")}
    modules = {"errors", "format", "writer", "cli", "annotations", "api", "syncd", "server",
               "charts", "media", "figures", "images", "notebook", "report", "vega_bundle",
               "azureml", "bundles", "histogram", "histchart", "importers", "exporters", "runner",
               "system"}
    assert public - modules <= set(flightlog.__all__), public - modules - set(flightlog.__all__)


def test_every_error_derives_from_flightlog_error() -> None:
    errors = importlib.import_module("flightlog.errors")
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), flightlog.FlightlogError), name


def test_py_typed_marker_ships() -> None:
    assert (Path(flightlog.__file__).parent / "py.typed").exists()
