"""Fixtures of the bundle tests: real processes on 127.0.0.1 and real files.

The sync tests' helpers (``tests/syncd/syncd_helpers.py``: ``Proc``, ``Server``,
``run_cli``, ``make_run``, ``assert_exact``...) are reused: that directory is put on
``sys.path`` here.

- ``procs``: subprocesses registered here are SIGKILLed and reaped at teardown.
- ``start_server(data)``: a ``flightlog server`` subprocess on a free port, once ready.
- ``writer(root, project, run_id, segment_bytes)``: a ``writer.py`` subprocess, ready.
- ``env``: the environment of ``flightlog`` subprocesses, with a fresh ledger directory.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "syncd"))

from syncd_helpers import Proc, Server, child_env

WRITER = Path(__file__).resolve().parent / "writer.py"


@pytest.fixture
def start_server(procs: list[Proc]) -> Callable[[Path], Server]:
    def start(data: Path) -> Server:
        return Server(data, procs).start()

    return start


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return child_env(FLIGHTLOG_BUNDLE_STATE=str(tmp_path / "ledgers"))


@pytest.fixture
def writer(procs: list[Proc]) -> Callable[..., Proc]:
    def start(root: Path, project: str, run_id: str, segment_bytes: int = 16384) -> Proc:
        proc = Proc([sys.executable, str(WRITER), str(root), project, run_id,
                     str(segment_bytes)], stdin=True)
        procs.append(proc)
        proc.wait_line("ready", timeout=60)
        return proc

    return start
