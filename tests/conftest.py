"""Suite-wide fixtures: no flightlog thread left running behind a test, an empty root, and
the subprocesses a test started, killed at teardown. Before any test, the project's
modules are compiled once."""

from __future__ import annotations

import compileall
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The project's source directories (the editable install's package mapping).
_SOURCES = ("flightlog", "format", "writer", "syncd", "server")


def pytest_configure(config: pytest.Config) -> None:
    """Compile the project's modules to bytecode once, in the controlling process. The
    suite starts well over a thousand ``flightlog`` subprocesses; where the environment
    sets PYTHONDONTWRITEBYTECODE (this one does), each of them otherwise compiles every
    module it imports again, 0.1-0.2 s of CPU each (an editable install has no .pyc)."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    top = Path(__file__).resolve().parents[1]
    for name in _SOURCES:
        compileall.compile_dir(top / name, quiet=1, workers=1)


def _writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("flightlog-")}


@pytest.fixture(autouse=True)
def no_leaked_writer_threads() -> Iterator[None]:
    before = _writer_threads()
    yield
    leaked = _writer_threads() - before
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test left flightlog threads running (a run not finished?): {still}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty root for run directories."""
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    """Subprocesses a test started (``Proc`` of tests/syncd/syncd_helpers.py): all are
    SIGKILLed, then reaped, at teardown, whatever the test did."""
    started: list[Any] = []
    yield started
    for proc in started:
        proc.kill()
    for proc in started:
        proc.close()
