"""``flightlog.Api``: runs on a server filtered and ordered as the same question asked of
the local run directories answers it; a remote run reads like a local one."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from syncd_helpers import Server, run_cli

import flightlog

# id: (alpha, final rmse or None, exit code or None for a run still running)
RUNS: dict[str, tuple[Any, float | None, int | None]] = {
    "a0": (0.1, 50.0, 0),
    "a1": (0.5, 40.0, 0),
    "a2": (0.3, 60.0, 0),
    "a3": (0.9, 10.0, 0),  # alpha too large
    "a4": (0.2, 5.0, 1),  # crashed
    "a5": (0.4, None, 0),  # no rmse: ordered last
    "a6": (0.25, 30.0, None),  # still running
    "a7": (0, 45.0, 0),  # an int alpha
    "a8": (0.5000001, 1.0, 0),  # just above the bound
}


def _write(root: Path) -> flightlog.Run:
    """The runs of RUNS (and one of another project); returns the one still running."""
    live = None
    for rid, (alpha, rmse, exit_code) in RUNS.items():
        run = flightlog.init(project="q", id=rid, dir=root, config={"alpha": alpha},
                             tags={"baseline": None} if rid in ("a0", "a2") else None)
        for i in range(5):
            run.log({"i": i, **({"rmse": rmse + 5 - i - 1} if rmse is not None else {})})
        if exit_code is None:
            run.flush()
            live = run
        else:
            run.finish(exit_code=exit_code)
    other = flightlog.init(project="elsewhere", id="z", dir=root, config={"alpha": 0.1})
    other.log({"i": 0, "rmse": 0.0})
    other.finish()
    assert live is not None
    return live


def _rmse(run: Any) -> float:
    value = run.summary.get("rmse")
    return math.inf if value is None else float(value)


def test_filters_and_order_agree_with_the_local_runs(server: Server, root: Path,
                                                     state: Path, tmp_path: Path) -> None:
    live = _write(root)
    try:
        result = run_cli("sync", root, "--server", server.url, "--state", state)
        assert result.returncode == 0, result.stdout + result.stderr
        local = [flightlog.open_run(d) for d in sorted((root / "q").iterdir())]
        with flightlog.Api(server.url) as api:
            found = api.runs("q", filters=["config.alpha<=0.5", "status=finished"],
                             order="summary.rmse")
            expected = sorted((r for r in local if r.config["alpha"] <= 0.5
                               and r.status == "finished"), key=_rmse)
            assert [r.id for r in found] == [r.id for r in expected]
            assert [r.id for r in found] == ["a1", "a7", "a0", "a2", "a5"]

            descending = api.runs("q", filters=["config.alpha<=0.5", "status=finished"],
                                  order="-summary.rmse")
            assert [r.id for r in descending] == ["a2", "a0", "a7", "a1", "a5"]
            assert [r.id for r in api.runs("q", filters=["status=running"])] == ["a6"]
            assert [r.id for r in api.runs("q", filters=["status=crashed"])] == ["a4"]
            assert {r.id for r in api.runs("q", filters=["tags.baseline"])} == {"a0", "a2"}
            assert [r.id for r in api.runs("q", filters=["summary.rmse<=10"],
                                           order="summary.rmse")] == ["a8", "a4", "a3"]
            assert {r.id for r in api.runs(None, filters=["config.alpha=0.1"])} == {"a0", "z"}
            with pytest.raises(flightlog.ServerRejected) as caught:
                api.runs("q", filters=["alpha <== 1"])
            assert caught.value.status_code == 400

            # A remote run reads like the local one.
            best = found[0]
            mine = next(r for r in local if r.id == best.id)
            assert best.config == mine.config and best.summary == mine.summary
            assert best.status == "finished" and best.name == mine.name
            assert best.tags == mine.tags
            assert best.history().to_pylist() == mine.history().to_pylist()
            assert best.get_metrics() == mine.get_metrics()
            with pytest.raises(flightlog.RunNotFound):
                api.run("q/nope")
    finally:
        live.finish()
    # Once finished and synced again, the last run leaves "running" for "finished".
    result = run_cli("sync", root, "--server", server.url, "--state", state)
    assert result.returncode == 0, result.stdout + result.stderr
    with flightlog.Api(server.url) as api:
        assert [r.id for r in api.runs("q", filters=["status=running"])] == []
        assert api.run("q/a6").status == "finished"
