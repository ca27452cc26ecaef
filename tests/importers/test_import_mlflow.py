"""MLflow file stores imported, compared value by value with what MLflow's own client
reads from the same store; and the same runs read through ``--tracking-uri``."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from importers_helpers import points_of, tree_bytes

import flightlog
from flightlog.importers._target import CURSOR_KEY
from flightlog.importers.mlflow import import_mlflow_server, import_mlflow_store

DATA = Path(__file__).parent / "data"
EXIT = {"FINISHED": ("finished", 0), "FAILED": ("crashed", 1), "KILLED": ("crashed", 130)}


def _copy_store(src: Path, dst: Path) -> Path:
    """A copy whose artifact URIs name the copy (MLflow writes absolute ones)."""
    shutil.copytree(src, dst)
    # MLflow's file store makes these folders for every run, empty or not; git keeps no
    # empty folder, so a checkout lacks them and MlflowClient would not find such runs.
    (dst / ".trash").mkdir(exist_ok=True)
    for meta in dst.glob("*/*/meta.yaml"):
        for folder in ("artifacts", "metrics", "params", "tags"):
            (meta.parent / folder).mkdir(exist_ok=True)
    old = next(line.split("file://", 1)[1] for line in
               next(dst.glob("*/*/meta.yaml")).read_text().splitlines()
               if line.startswith("artifact_uri:")).split("/mlruns")[0] + "/" + src.name
    for meta in dst.rglob("meta.yaml"):
        meta.write_text(meta.read_text().replace(old, str(dst)))
    return dst


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("mlflow")
    mlruns = _copy_store(DATA / "mlruns", base / "mlruns")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.17 refuses a file store without
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=mlruns.as_uri())
        runs = [r for e in client.search_experiments()
                for r in client.search_runs([e.experiment_id])]
    reports = import_mlflow_store(mlruns, base / "runs")
    yield {"mlruns": mlruns, "client": client, "runs": runs, "base": base,
           "reports": {r.identity: r for r in reports}}
    mp.undo()


def test_every_run_imported_with_params_tags_and_status(store: dict[str, Any]) -> None:
    assert sorted(store["reports"]) == sorted(r.info.run_id for r in store["runs"])
    for run in store["runs"]:
        report = store["reports"][run.info.run_id]
        local = flightlog.open_run(report.dir)
        config = dict(local.config)
        assert config.pop(CURSOR_KEY)["identity"] == run.info.run_id
        assert config == run.data.params
        tags = dict(local.tags)
        assert tags.pop("mlflow.status") == run.info.status
        assert tags == run.data.tags
        assert local.name == run.info.run_name
        assert report.project == "golden"
        assert (local.status, local.exit_code) == EXIT[run.info.status]
        assert local.created == run.info.start_time / 1000


def test_every_metric_point_matches_the_client(store: dict[str, Any]) -> None:
    client = store["client"]
    for run in store["runs"]:
        report = store["reports"][run.info.run_id]
        ours = points_of(report.dir)
        superseded = report.unmapped.counts.get("superseded point (same key and step)", {})
        for key in run.data.metrics:
            history = client.get_metric_history(run.info.run_id, key)
            # one value per step in flightlog: the one logged last wins, the rest counted
            last: dict[int, Any] = {}
            for m in sorted(history, key=lambda m: m.timestamp):
                last[m.step] = (m.step, m.value, m.timestamp / 1000)
            assert sorted(ours[key]) == sorted(last.values())
            assert superseded.get(key, 0) == len(history) - len(last)
        assert set(ours) == set(run.data.metrics)
    finished = next(r for r in store["runs"] if r.info.run_name == "finished-run")
    report = store["reports"][finished.info.run_id]
    assert report.unmapped.counts["superseded point (same key and step)"] == {"val_acc": 1}


def test_artifacts_are_attached_files(store: dict[str, Any], tmp_path: Path) -> None:
    finished = next(r for r in store["runs"] if r.info.run_name == "finished-run")
    local = flightlog.open_run(store["reports"][finished.info.run_id].dir)
    assert local.get_file_names() == ["artifacts/notes.txt", "artifacts/sub/data.csv"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fetched = Path(store["client"].download_artifacts(finished.info.run_id, "sub/data.csv",
                                                          str(tmp_path)))
    got = local.download_file("artifacts/sub/data.csv", tmp_path / "ours.csv")
    assert got.read_bytes() == fetched.read_bytes() == b"a,b\n1,2\n"


def test_reimport_changes_no_byte(store: dict[str, Any]) -> None:
    root = store["base"] / "runs"
    before = tree_bytes(root)
    assert all(r.unchanged for r in import_mlflow_store(store["mlruns"], root))
    assert tree_bytes(root) == before


def test_torn_metric_line_is_skipped_and_reported(tmp_path: Path,
                                                  store: dict[str, Any]) -> None:
    reports = import_mlflow_store(DATA / "mlruns_damaged", tmp_path / "runs")
    (damaged,) = [r for r in reports if r.problems]
    intact = store["reports"][damaged.identity]
    assert points_of(damaged.dir) == points_of(intact.dir)
    (problem,) = damaged.problems
    assert "metrics/loss" in problem and "torn last line at offset" in problem


def test_a_run_that_grew_adds_only_new_points(tmp_path: Path, store: dict[str, Any]) -> None:
    mlruns = _copy_store(DATA / "mlruns", tmp_path / "mlruns")
    root = tmp_path / "runs"
    first = {r.identity: r for r in import_mlflow_store(mlruns, root)}
    (metric,) = mlruns.glob("*/*/metrics/val_acc")
    metric.write_bytes(metric.read_bytes() + b"1900000000000 0.995 20\n1900000000001 0.996 21\n")
    second = {r.identity: r for r in import_mlflow_store(mlruns, root)}
    grown = second[metric.parent.parent.name]
    assert (grown.points, grown.unchanged) == (2, False)
    assert sorted(points_of(grown.dir)["val_acc"])[-2:] == [(20, 0.995, 1900000000.0),
                                                           (21, 0.996, 1900000000.001)]
    others = [r for k, r in second.items() if k != metric.parent.parent.name]
    assert all(r.unchanged for r in others) and len(first) == len(second)


def test_tracking_uri_reads_the_same_runs(store: dict[str, Any], tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reports = import_mlflow_server(store["mlruns"].as_uri(), tmp_path / "runs")
    direct = store["reports"]
    assert sorted(r.identity for r in reports) == sorted(direct)
    for report in reports:
        twin = direct[report.identity]
        assert report.run_id == twin.run_id  # the same deterministic id either way
        ours, theirs = flightlog.open_run(report.dir), flightlog.open_run(twin.dir)
        assert points_of(report.dir) == points_of(twin.dir)
        assert ours.tags == theirs.tags and ours.status == theirs.status
        assert {k: v for k, v in ours.config.items() if k != CURSOR_KEY} == {
            k: v for k, v in theirs.config.items() if k != CURSOR_KEY}
        assert ours.get_file_names() == theirs.get_file_names()
