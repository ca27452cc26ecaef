"""The seeds' Azure ML code runs with only its import lines changed: seed 004's tutorial
notebook and seed 003's start_logging notebook in a real Jupyter kernel, against a local
workspace (no config file: flightlog's defaults) and against a server workspace
(``flightlog.json`` naming a real ``flightlog server``) after a real ``flightlog sync``.
Seed 003's ``train.py`` runs as a script, under the script runner's variable and without.
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from seed_code import (
    IMPORTS,
    TOKEN,
    assert_only_imports_differ,
    cells,
    port,
    rich_output,
    run_notebook,
    seed_text,
    stream_text,
)
from syncd_helpers import Server, child_env, flightlog_cmd, run_cli

import flightlog
from flightlog.azureml import RUN_DIR_ENV, Experiment, Run, Workspace

pytest.importorskip("nbclient")

#: What the seed prints for its best run ("Best run_id rmse: 57.234760283951765"), from
#: Azure Open Datasets' copy of the data; scikit-learn's copy agrees to 4 decimals.
SEED_BEST_RMSE = 57.234760283951765


def _local_runs(root: Path, project: str) -> list[flightlog.LocalRun]:
    return [flightlog.open_run(d) for d in sorted((root / project).iterdir())]


def _server_config(folder: Path, server: Server) -> None:
    (folder / "flightlog.json").write_text(json.dumps(
        {"dir": "runs", "server": server.url, "token": TOKEN,
         "workspace_name": "tutorial-ws"}), encoding="utf-8")


def _sync(runs: Path, server: Server, tmp_path: Path) -> None:
    result = run_cli("sync", runs, "--server", server.url, "--token", TOKEN, "--state",
                     tmp_path / "sync-state", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


def _check_best_run(cell_best: Any, cell_files: Any, folder: Path,
                    runs: list[flightlog.LocalRun]) -> None:
    """The seed's best-run cells found the run of minimum rmse, as the seed prints it, and
    its model was downloaded into the notebook's folder."""
    best = min(runs, key=lambda r: r.get_metrics()["rmse"])
    best_rmse = best.get_metrics()["rmse"]
    assert stream_text(cell_best) == (f"Best run_id: {best.id}\n"
                                      f"Best run_id rmse: {best_rmse}\n")
    assert math.isclose(best_rmse, SEED_BEST_RMSE, abs_tol=1e-3)
    assert best.get_metrics()["alpha_value"] == 0.1
    assert stream_text(cell_files) == "['model_alpha_0.1.pkl']\n"
    downloaded = folder / "model_alpha_0.1.pkl"
    assert downloaded.read_bytes() == (folder / "outputs" / "model_alpha_0.1.pkl").read_bytes()
    model = joblib.load(downloaded)  # the seed saves with joblib.dump
    assert type(model).__name__ == "Ridge" and model.alpha == 0.1


def test_seed004_tutorial_on_a_local_workspace(notebook_dir: Path) -> None:
    code = cells("seed004_tutorial.txt")
    notebook = run_notebook(code, notebook_dir)
    runs = _local_runs(notebook_dir / "flightlog", "diabetes-experiment")
    assert len(runs) == 10 and {r.status for r in runs} == {"finished"}
    assert sorted(r.get_file_names()[0] for r in runs) == sorted(
        f"model_alpha_{a / 10}.pkl" for a in range(1, 11))
    _check_best_run(notebook.cells[5], notebook.cells[6], notebook_dir, runs)
    # `experiment` shows Azure's table, linking to an offline report of its runs.
    table = rich_output(notebook.cells[4], "text/html")
    assert "<td>diabetes-experiment</td><td>local</td>" in table
    report = notebook_dir / "flightlog" / ".reports" / "diabetes-experiment.html"
    assert f'href="{report.resolve().as_uri()}"' in table
    page = report.read_text(encoding="utf-8")
    assert all(r.id in page for r in runs)


def test_seed004_tutorial_on_a_server_workspace_after_sync(notebook_dir: Path,
                                                           server: Server,
                                                           tmp_path: Path) -> None:
    _server_config(notebook_dir, server)
    code = cells("seed004_tutorial.txt")
    # The training half (workspace, experiment, data, training, `experiment`), offline.
    trained = run_notebook(code[:5], notebook_dir)
    table = rich_output(trained.cells[4], "text/html")
    assert "<td>diabetes-experiment</td><td>tutorial-ws</td>" in table
    assert f'href="{server.url}/projects/diabetes-experiment"' in table
    runs = _local_runs(notebook_dir / "runs", "diabetes-experiment")
    assert len(runs) == 10
    with server.api() as api:
        assert api.runs("diabetes-experiment") == []  # nothing reached the server yet
    _sync(notebook_dir / "runs", server, tmp_path)
    page = httpx.get(f"{server.url}/projects/diabetes-experiment", timeout=30,
                     headers={"Authorization": f"Bearer {TOKEN}"})  # the table's link
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The finding half, in a new kernel: every answer comes from the server.
    found = run_notebook(code[:2] + code[5:], notebook_dir)
    _check_best_run(found.cells[2], found.cells[3], notebook_dir, runs)


def _check_start_logging(notebook: Any, runs: list[flightlog.LocalRun]) -> str:
    """Seed 003's cells logged one run and show it; the printed portal URL."""
    assert len(runs) == 1 and runs[0].status == "finished"
    run = runs[0]
    assert run.get_file_names() == ["outputs/model.pkl"]
    metrics = ast.literal_eval(rich_output(notebook.cells[3], "text/plain"))
    assert metrics == run.get_metrics() and metrics["alpha"] == 0.03
    assert stream_text(notebook.cells[2]).startswith("Mean Squared Error is ")
    assert math.isclose(float(stream_text(notebook.cells[2]).split()[-1]), metrics["mse"])
    table = rich_output(notebook.cells[5], "text/html")
    assert (f"<td>train-within-notebook</td><td>{run.id}</td><td>{run.id}</td>"
            f"<td>Completed</td>") in table
    url = stream_text(notebook.cells[4]).strip()
    assert f'href="{url}"' in table
    return url


def test_seed003_start_logging_on_a_local_workspace(notebook_dir: Path) -> None:
    notebook = run_notebook(cells("seed003_start_logging.txt"), notebook_dir)
    runs = _local_runs(notebook_dir / "flightlog", "train-within-notebook")
    url = _check_start_logging(notebook, runs)
    report = notebook_dir / "flightlog" / ".reports" / "train-within-notebook" / (
        f"{runs[0].id}.html")
    assert url == report.resolve().as_uri()
    assert runs[0].id in report.read_text(encoding="utf-8")


def test_seed003_start_logging_on_a_server_workspace_after_sync(
        notebook_dir: Path, server: Server, tmp_path: Path) -> None:
    _server_config(notebook_dir, server)
    notebook = run_notebook(cells("seed003_start_logging.txt"), notebook_dir)
    runs = _local_runs(notebook_dir / "runs", "train-within-notebook")
    url = _check_start_logging(notebook, runs)
    assert url == f"{server.url}/runs/train-within-notebook/{runs[0].id}"
    _sync(notebook_dir / "runs", server, tmp_path)
    page = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The run read back through the server answers as the local one does.
    with Workspace.from_config(notebook_dir) as ws:
        experiment = Experiment(workspace=ws, name="train-within-notebook")
        remote = Run(experiment=experiment, run_id=runs[0].id)
        local = Run(Experiment(Workspace(dir=notebook_dir / "runs"), experiment.name),
                    runs[0].id)
        assert remote.get_details() == local.get_details()
        assert remote.get_details()["endTimeUtc"] is not None
        assert remote.get_metrics() == local.get_metrics() == runs[0].get_metrics()
        remote.download_file("outputs/model.pkl", tmp_path / "model.pkl")
        assert (tmp_path / "model.pkl").read_bytes() == (
            notebook_dir / "outputs" / "model.pkl").read_bytes()


def _train_py(folder: Path) -> Path:
    """Seed 003's train.py and mylib.py, ported. The seed's train.py calls mylib without
    importing it: the port adds that import line (and changes no other kind of line)."""
    original = seed_text("seed003_train.txt")
    ported = port(original, added=("import mylib",))
    assert_only_imports_differ(original, ported)
    (folder / "train.py").write_text(ported, encoding="utf-8")
    (folder / "mylib.py").write_text(seed_text("seed003_mylib.txt"), encoding="utf-8")
    return folder / "train.py"


def _check_train_run(run: Run) -> None:
    metrics = run.get_metrics()
    assert len(metrics["alpha"]) == 20 and len(metrics["mse"]) == 20
    assert metrics["alpha"][:3] == [0.0, 0.05, 0.1]
    # Besides the models: what the script runner records of the code (code/...).
    models = [n for n in run.get_file_names() if not n.startswith("code/")]
    assert models == sorted(f"ridge_{a * 0.05:.2f}.pkl" for a in range(20))
    # The script never calls run.complete(): finished at exit, as Azure completes it.
    assert run.get_status() == "Completed"


def test_seed003_train_py_logs_into_the_script_runners_run(notebook_dir: Path) -> None:
    """Seed 003's ScriptRunConfig, as ``flightlog run -- python train.py`` (a real runner
    process): the script's ``Run.get_context()`` is the runner's run, not a second one."""
    script = _train_py(notebook_dir)
    result = subprocess.run([*flightlog_cmd(), "run", "--project", "train-on-local",
                             "--system-interval", "1", "--id", "r-0001", "--", sys.executable,
                             script.name], cwd=notebook_dir, env=child_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("alpha is ") == 20
    experiment = Experiment(Workspace(dir=notebook_dir / "flightlog"), "train-on-local")
    assert [r.id for r in experiment.get_runs()] == ["r-0001"]  # one run: the runner's
    run = Run(experiment, "r-0001")
    _check_train_run(run)
    runner_run = flightlog.open_run(notebook_dir / "flightlog" / "train-on-local" / "r-0001")
    assert {f.path for f in runner_run.code_files()} >= {"train.py", "mylib.py"}
    # No offline run beside it (the runner's run is the root's only project).
    assert [p.name for p in (notebook_dir / "flightlog").iterdir()] == ["train-on-local"]


def test_seed003_train_py_continues_the_run_named_by_the_variable(notebook_dir: Path) -> None:
    """``$FLIGHTLOG_RUN_DIR`` without the runner (a scheduler's retry, say): the script
    continues that run directory."""
    script = _train_py(notebook_dir)
    run_dir = notebook_dir / "runs" / "train-on-local" / "r-0001"
    result = subprocess.run([sys.executable, str(script)], cwd=notebook_dir,
                            env=child_env(**{RUN_DIR_ENV: str(run_dir)}),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("alpha is ") == 20
    experiment = Experiment(Workspace(dir=notebook_dir / "runs"), "train-on-local")
    assert [r.id for r in experiment.get_runs()] == ["r-0001"]
    _check_train_run(Run(experiment, "r-0001"))
    assert not (notebook_dir / "flightlog").exists()  # no offline run beside it


def test_seed003_train_py_without_a_runner_logs_an_offline_run(notebook_dir: Path) -> None:
    script = _train_py(notebook_dir)
    result = subprocess.run([sys.executable, str(script)], cwd=notebook_dir, env=child_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # An offline run of the experiment named after the script, on the defaults.
    runs = list(Experiment(Workspace(dir=notebook_dir / "flightlog"), "train").get_runs())
    assert len(runs) == 1
    _check_train_run(runs[0])


README = Path(__file__).resolve().parents[2] / "README.md"


def _code(line: str) -> str:
    """A README line without the note README appends to it (two spaces, then ``#``)."""
    return re.sub(r"(?<=\S)\s{2,}#.*$", "", line)


def test_readme_shows_the_tutorial_with_only_imports_changed() -> None:
    """README's "Coming from Azure ML" diff: its - and + lines are import lines mapped as
    the tests port them, and its unchanged lines are the seed's own, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Coming from Azure ML", 1)[1]
    block = section.split("```diff\n", 1)[1].split("```", 1)[0].splitlines()
    removed = [line[1:] for line in block if line.startswith("-")]
    added = [_code(line[1:]) for line in block if line.startswith("+")]
    assert all(line.startswith(("import ", "from ")) for line in removed + added)
    assert [IMPORTS[line] for line in removed] == added
    kept = [_code(line[1:]) for line in block if line.startswith(" ") and line.strip()
            and not line.strip().startswith("# (the tutorial")]
    seed = iter(line for line in seed_text("seed004_tutorial.txt").splitlines()
                if line.strip())
    for line in kept:  # each one found after the previous one
        assert any(line == candidate for candidate in seed), line
