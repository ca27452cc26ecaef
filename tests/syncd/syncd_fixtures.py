"""Fixtures shared by the sync tests and the scale tests (each conftest imports them):
a sync state directory, ``flightlog syncd`` subprocesses and ``trainer.py`` subprocesses,
all registered in the suite's ``procs`` list (SIGKILLed and reaped at teardown)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from syncd_helpers import TRAINER, Proc, flightlog_cmd


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def start_syncd(procs: list[Proc], state: Path) -> Callable[..., Proc]:
    def start(*paths: Path, server: str, state_dir: Path | None = None,
              extra: tuple[str, ...] = ()) -> Proc:
        proc = Proc([*flightlog_cmd(), "syncd", *map(str, paths), "--server", server,
                     "--state", str(state_dir or state), *extra])
        procs.append(proc)
        return proc

    return start


@pytest.fixture
def trainer(procs: list[Proc]) -> Callable[..., Proc]:
    def start(mode: str, *args: object) -> Proc:
        proc = Proc([sys.executable, str(TRAINER), mode, *map(str, args)], stdin=True)
        procs.append(proc)
        return proc

    return start
