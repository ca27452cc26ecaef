"""Fixtures of the CLI message tests: real ``flightlog`` subprocesses and a real server on
127.0.0.1, from the sync tests' helpers (tests/syncd/syncd_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))

from syncd_helpers import Proc, Server


@pytest.fixture
def start_server(tmp_path: Path, procs: list[Proc]) -> Callable[..., Server]:
    count = [0]

    def start(token: str | None = None) -> Server:
        count[0] += 1
        return Server(tmp_path / f"server{count[0]}", procs, token).start()

    return start


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()
