"""``flightlog export mlflow`` into a real MLflow tracking server on 127.0.0.1 (started
once per session, conftest.py): every value read back with MlflowClient, a second export
adds nothing, and an export SIGKILLed mid-way resumes without a duplicate point."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import MLFLOW_ENV, MlflowServer
from waiting import wait_until

import flightlog
from flightlog.errors import MissingExtra
from flightlog.exporters.mlflow_names import PARAM_VALUE_LIMIT
from flightlog.exporters.sources import local_runs
from flightlog.exporters.to_mlflow import RUN_TAG, export_mlflow

#: MLflow stores ±Inf as ±float max (its SQL store cannot hold infinities).
_MAX = sys.float_info.max


def _as_mlflow(value: Any) -> Any:
    """A flightlog history value as MLflow holds it; None when it is not sent."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    return max(-_MAX, min(_MAX, value))


def _client(server: MlflowServer) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(server.url)


def _write_runs(root: Path, scratch: Path) -> dict[str, Path]:
    (scratch / "model.txt").write_text("weights")
    ok = flightlog.init(project="mlf", id="ok1", name="good run", dir=root, quiet=True,
                        tags=["baseline"], config={"alpha": 0.1, "opt": {"name": "adam"},
                                                   "note": "n" * 700, "bad key!": 3})
    ok.tag("owner", "ann")
    specials = [math.nan, math.inf, -math.inf, -0.0]
    for i in range(150):
        ok.log({"loss": specials[i] if i < 4 else 1.0 / (i + 1), "epoch": i,
                "flag": i % 2 == 0, "label": f"s{i}", "bad key!": i / 3})
    ok.upload_file("outputs/model.txt", scratch / "model.txt")
    ok.finish()
    failed = flightlog.init(project="mlf", id="bad1", dir=root, quiet=True)
    failed.log({"loss": 2.0})
    failed.finish(exit_code=1)
    live = flightlog.init(project="mlf", id="dead1", dir=scratch / "live", quiet=True,
                          flush_interval=0.01)
    live.log({"loss": 3.0})
    live.log({"loss": 4.0})
    reader = flightlog.open_run(live.dir)
    wait_until(lambda: reader.history().num_rows == 2, 30, "live run readable")
    shutil.copytree(live.dir, root / "mlf" / "dead1")  # no writer: reads as crashed
    live.finish()
    return {"ok1": Path(ok.dir), "bad1": Path(failed.dir), "dead1": root / "mlf" / "dead1"}


@pytest.fixture(scope="module")
def exported(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("mlflow")
    runs = _write_runs(base / "runs", base)
    ledger = base / "ledger"
    report = export_mlflow(local_runs([base / "runs"]), mlflow_server.url,
                           experiment="flightlog-tests", ledger_dir=ledger)
    return {"root": base / "runs", "runs": runs, "ledger": ledger, "report": report}


def _mlflow_runs(server: MlflowServer, experiment: str) -> dict[str, Any]:
    client = _client(server)
    eid = client.get_experiment_by_name(experiment).experiment_id
    return {r.data.tags[RUN_TAG]: r for r in client.search_runs([eid], max_results=1000)}


def _metric_points(server: MlflowServer, run_id: str, key: str) -> list[tuple[Any, ...]]:
    history = _client(server).get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
                  for m in history)


def _expected_points(run_dir: Path, key: str) -> list[tuple[Any, ...]]:
    history = flightlog.open_run(run_dir).history()
    out = []
    for row in history.to_pylist():
        value = _as_mlflow(row.get(key))
        if value is not None:
            out.append((row["_step"], round(row["_timestamp"] * 1000), value))
    return sorted(out)


def test_metrics_read_back_value_by_value(exported: dict[str, Any],
                                          mlflow_server: MlflowServer) -> None:
    mruns = _mlflow_runs(mlflow_server, "flightlog-tests")
    run = mruns["mlf/ok1"]
    assert set(run.data.metrics) == {"loss", "epoch", "flag", "bad key_"}
    for key, mkey in [("loss", "loss"), ("epoch", "epoch"), ("flag", "flag"),
                      ("bad key!", "bad key_")]:
        got = _metric_points(mlflow_server, run.info.run_id, mkey)
        assert got == _expected_points(exported["runs"]["ok1"], key), key
    assert exported["report"].not_numeric == 150  # "label": strings are not metrics


def test_params_tags_status_and_artifacts(exported: dict[str, Any],
                                          mlflow_server: MlflowServer) -> None:
    mruns = _mlflow_runs(mlflow_server, "flightlog-tests")
    assert sorted(mruns) == ["mlf/bad1", "mlf/dead1", "mlf/ok1"]
    ok = mruns["mlf/ok1"]
    assert ok.data.params == {"alpha": "0.1", "opt.name": "adam",
                              "note": "n" * PARAM_VALUE_LIMIT, "bad key_": "3"}
    assert "mlf/ok1: param note" in exported["report"].truncated
    tags = ok.data.tags
    assert (tags["mlflow.runName"], tags["baseline"], tags["owner"]) == ("good run", "",
                                                                          "ann")
    assert {k: r.info.status for k, r in mruns.items()} == {
        "mlf/ok1": "FINISHED", "mlf/bad1": "FAILED", "mlf/dead1": "KILLED"}
    client = _client(mlflow_server)
    import json

    local = client.download_artifacts(ok.info.run_id, "outputs/model.txt",
                                      str(exported["root"].parent))
    assert Path(local).read_text() == "weights"
    full = client.download_artifacts(ok.info.run_id, "flightlog/params.json",
                                     str(exported["root"].parent))
    assert json.loads(Path(full).read_text())["note"] == "n" * 700
    created = flightlog.open_run(exported["runs"]["ok1"]).created
    assert ok.info.start_time == round(created * 1000)


def test_second_export_adds_nothing(exported: dict[str, Any],
                                    mlflow_server: MlflowServer) -> None:
    before = _counts(mlflow_server, "flightlog-tests")
    again = export_mlflow(local_runs([exported["root"]]), mlflow_server.url,
                          experiment="flightlog-tests", ledger_dir=exported["ledger"])
    assert (again.metrics, again.params, again.artifacts, again.failed) == (0, 0, 0, [])
    assert _counts(mlflow_server, "flightlog-tests") == before


def test_lost_ledger_finds_runs_by_tag_and_adds_nothing(exported: dict[str, Any],
                                                        mlflow_server: MlflowServer,
                                                        tmp_path: Path) -> None:
    before = _counts(mlflow_server, "flightlog-tests")
    again = export_mlflow(local_runs([exported["root"]]), mlflow_server.url,
                          experiment="flightlog-tests", ledger_dir=tmp_path / "new-ledger")
    assert again.metrics == 0 and again.runs == 3
    assert _counts(mlflow_server, "flightlog-tests") == before


def _counts(server: MlflowServer, experiment: str) -> dict[str, int]:
    out = {}
    for name, run in _mlflow_runs(server, experiment).items():
        for key in run.data.metrics:
            out[f"{name}:{key}"] = len(_metric_points(server, run.info.run_id, key))
    return out


def test_sigkilled_export_resumes_without_duplicates(mlflow_server: MlflowServer,
                                                     tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run = flightlog.init(project="kill", id="k1", dir=root, quiet=True)
    for i in range(6000):
        run.log({"x": i * 0.5, "y": i})
    run.finish()
    ledger = tmp_path / "ledger"
    cli = Path(sys.executable).with_name("flightlog")
    child = subprocess.Popen(
        [str(cli), "export", "mlflow", str(root), "--tracking-uri", mlflow_server.url,
         "--experiment", "killed", "--ledger", str(ledger)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env={**os.environ, **MLFLOW_ENV})
    try:
        def partway() -> bool:
            assert child.poll() is None, "the export ended before it could be killed"
            try:
                runs = _mlflow_runs(mlflow_server, "killed")
            except AttributeError:  # no experiment yet
                return False
            if "kill/k1" not in runs:
                return False
            sent = len(_client(mlflow_server).get_metric_history(
                runs["kill/k1"].info.run_id, "y"))
            return 0 < sent < 6000
        wait_until(partway, 120, "the export to have sent some of the metrics",
                   interval=0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    report = export_mlflow(local_runs([root]), mlflow_server.url, experiment="killed",
                           ledger_dir=ledger)
    assert report.failed == [] and 0 < report.metrics < 12000
    runs = _mlflow_runs(mlflow_server, "killed")
    assert list(runs) == ["kill/k1"] and runs["kill/k1"].info.status == "FINISHED"
    for key in ("x", "y"):
        got = _metric_points(mlflow_server, runs["kill/k1"].info.run_id, key)
        assert got == _expected_points(Path(run.dir), key), key


def test_missing_mlflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(MissingExtra, match=r"flightlog\[mlflow\]"):
        export_mlflow([], "http://127.0.0.1:9")
