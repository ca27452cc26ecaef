"""Fixtures of the writer tests (helpers live in writer_helpers.py).

- An autouse fixture fails any test that leaves a ``flightlog-writer`` thread alive (a
  run that was never finished), after stopping it so later tests are not affected.
  Runs written by subprocesses have no thread here, so they are not concerned.
- ``root``: an empty root of run directories (under ``tmp_path``).
- ``new_run(**kwargs)``: ``flightlog.init`` under ``root`` with a fast flush.
- ``children``: a list to register ``Child`` subprocesses in; killed at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from writer_helpers import Child, stop_writer_threads, writer_threads

import flightlog


@pytest.fixture(autouse=True)
def _no_leaked_writer_threads() -> Iterator[None]:
    before = set(writer_threads())
    yield
    leaked = [t for t in writer_threads() if t not in before]
    if leaked:
        stop_writer_threads(leaked)
        pytest.fail(f"the test left {len(leaked)} flightlog-writer thread(s) alive: every run "
                    f"must be finished")


@pytest.fixture
def new_run(root: Path) -> Callable[..., flightlog.Run]:
    def make(project: str = "proj", **kwargs: Any) -> flightlog.Run:
        kwargs.setdefault("flush_interval", 0.05)
        return flightlog.init(project=project, dir=root, **kwargs)

    return make


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()
        child.close()
