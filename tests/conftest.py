"""Suite-wide hygiene: every test leaves no flightlog thread running behind it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


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
