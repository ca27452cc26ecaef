"""Fixtures of the ``flightlog.azureml`` tests: real kernels, real servers, real syncs.

- ``clean_env`` (autouse): no ``FLIGHTLOG_*`` variable of the caller's leaks in (each test
  states what it uses; kernels and subprocesses inherit this environment).
- ``procs``: subprocesses to SIGKILL at teardown; ``server``: a ``flightlog server``
  subprocess on 127.0.0.1 with a token (tests/syncd/syncd_helpers.py's ``Server``).
- ``notebook_dir``: a folder for a seed's notebook, holding the Open Datasets stand-in.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "syncd"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_code import STAND_IN, TOKEN
from syncd_helpers import Proc, Server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("FLIGHTLOG_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def server(tmp_path: Path, procs: list[Proc]) -> Server:
    return Server(tmp_path / "server-data", procs, TOKEN).start()


@pytest.fixture
def notebook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "notebook"
    folder.mkdir()
    shutil.copy(STAND_IN, folder / STAND_IN.name)
    return folder
