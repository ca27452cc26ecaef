"""The README's examples run as a new user runs them (real subprocesses, real server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flightlog

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_diabetes_example_trains_ten_runs_and_finds_the_best(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "diabetes.py"), "--dir", "runs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            check=True)
    runs = [flightlog.open_run(d) for d in (tmp_path / "runs" / "diabetes-experiment").iterdir()]
    assert len(runs) == 10 and {r.status for r in runs} == {"finished"}
    best = min(runs, key=lambda r: r.summary["rmse"])
    assert f"best run: {best.id}" in result.stdout
    assert best.config["alpha"] == 0.4  # scikit-learn's diabetes split with random_state=0
    name = best.get_file_names()[0]
    assert (tmp_path / "out" / name).read_bytes() == (
        best.download_file(name, tmp_path / "check.pkl").read_bytes())


def test_full_loop_example_syncs_and_queries_the_server(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "full_loop.py"), "--workdir",
                             str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "best: " in result.stdout and "alpha=0.4" in result.stdout
    server_runs = tmp_path / "demo" / "server-data" / "runs" / "diabetes-experiment"
    assert len(list(server_runs.iterdir())) == 10
    assert list((tmp_path / "demo" / "best").iterdir())
