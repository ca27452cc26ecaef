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
    report = (tmp_path / "demo" / "report.html").read_text(encoding="utf-8")
    assert "predicted_vs_true" in report and "vegaEmbed" in report


def test_charts_example_logs_every_seed_chart(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "charts.py"), "--dir", "runs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = {r.name: r for r in (flightlog.open_run(d) for d in
                                (tmp_path / "runs" / "visualize-sklearn").iterdir())}
    assert set(runs) == {"custom-charts", "classifier", "evaluation", "regressor",
                         "clusterer"}
    assert {"my_custom_plot_id", "my_custom_id", "my_bar_chart_id", "my_histogram",
            "my_multi_line", "my_custom_chart", "chart"} <= set(runs["custom-charts"].charts())
    assert {"plotly_scatter", "chart"} <= set(runs["custom-charts"].media())
    assert {"roc", "precision_recall", "confusion_matrix", "class_proportions",
            "calibration_curve", "feature_importances", "summary_metrics"} <= set(
                runs["classifier"].charts())
    assert runs["classifier"].tables()["predictions"].num_rows == 8
    assert {"pr", "roc", "conf_mat", "lift", "gains", "calibration", "importance"} == set(
        runs["evaluation"].charts())
    assert {"learning_curve", "outlier_candidates", "residuals", "summary_metrics",
            "predicted_vs_true", "residuals_histogram"} <= set(runs["regressor"].charts())
    assert {"elbow_curve", "silhouette_plot"} <= set(runs["clusterer"].charts())
    # flightlog show (run by the example) lists what was logged.
    assert "my_custom_plot_id  line" in result.stdout and "predictions" in result.stdout


def test_script_run_example_runs_seed_003_under_flightlog_run(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "script_run.py"), "--workdir",
                             str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alpha is 0.95, and mse is" in result.stdout  # the console, tee'd
    (run_dir,) = (tmp_path / "demo" / "flightlog" / "train-on-local").iterdir()
    run = flightlog.open_run(run_dir)
    assert run.status == "finished" and len(run.get_metrics()["mse"]) == 20
    assert len([n for n in run.get_file_names() if n.startswith("outputs/ridge_")]) == 20
    assert [f.path for f in run.code_files()] == ["mylib.py", "train.py"]
    assert run.console()[-1].text.startswith("alpha is 0.95")
    assert "best alpha 0.40" in result.stdout
