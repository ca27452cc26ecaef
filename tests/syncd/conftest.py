"""Fixtures of the sync tests: real processes on 127.0.0.1.

- ``procs``: a list to register ``Proc`` subprocesses in; every one is SIGKILLed and
  reaped at teardown, whatever the test did.
- ``start_server(data=None, token=None)``: a ``flightlog server`` subprocess on a free
  port, returned once ``/healthz`` answers; ``server``: one with a fresh data dir.
- ``start_syncd(*paths, server=..., state=...)``: a ``flightlog syncd`` subprocess.
- ``trainer(mode, *args)``: a ``trainer.py`` subprocess (a training script).
- ``root``: an empty root of client run directories; ``state``: a sync state dir.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from syncd_fixtures import start_syncd as start_syncd
from syncd_fixtures import state as state
from syncd_fixtures import trainer as trainer
from syncd_helpers import Proc, Server


@pytest.fixture
def start_server(tmp_path: Path, procs: list[Proc]) -> Callable[..., Server]:
    count = [0]

    def start(data: Path | None = None, token: str | None = None) -> Server:
        count[0] += 1
        return Server(data or tmp_path / f"server{count[0]}", procs, token).start()

    return start


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()
