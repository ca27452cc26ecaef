"""Fixtures of the format tests: real run directories written by ``flightlog.init``."""

from __future__ import annotations

from pathlib import Path

import pytest

import flightlog


def _write_real_run(root: Path) -> Path:
    # flush_interval is large so that what reaches the log is written at finish(), in a
    # known number of frames, without waiting on the background thread's timer.
    run = flightlog.init(project="fmt", dir=root, id="real0", name="real",
                         config={"alpha": 0.1, "layers": [1, 2]}, tags=["smoke"],
                         flush_interval=3600)
    for step in range(25):
        run.log({"loss": 1.0 / (step + 1), "epoch": step // 5, "ok": step % 2 == 0,
                 "phase": "warm" if step < 10 else "main"})
    run.log({"rare": 3.5}, step=25)
    run.log("lr", 0.1)
    run.log("lr", 0.05)
    run.log_list("xs", [1, 2, 3])
    run.log_row("preds", x=1, y=0.5)
    run.log_row("preds", x=2, y=0.25)
    run.summary["best"] = 0.04
    run.config.update({"beta": 2})
    run.tag("kind", "test")
    run.finish()
    return Path(run.dir)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of one segment, written by the real writer."""
    return _write_real_run(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def real_resumed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run written, finished, resumed and finished again: two segments."""
    root = tmp_path_factory.mktemp("resumed")
    run_dir = _write_real_run(root)
    run = flightlog.init(project="fmt", dir=root, id="real0", resume=True,
                         flush_interval=3600)
    for step in range(5):
        run.log({"loss": 0.01 * step, "extra": step})
    run.log("lr", 0.01)
    run.finish()
    return run_dir


@pytest.fixture(scope="session")
def real_segment(real_run: Path) -> Path:
    return real_run / "log" / "00000000.flseg"
