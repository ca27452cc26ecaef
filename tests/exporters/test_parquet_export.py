"""``flightlog export parquet``: the dataset read by DuckDB, polars and pyarrow.dataset
alone holds every point exactly as ``open_run(...).history()`` has it; incremental
exports write only what is new; the manifest's digests and the files' metadata hold."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from export_helpers import DUCKDB_HIVE, READERS, expected_points, make_mixed_run, normalise
from waiting import wait_until

import flightlog
from flightlog.cli import main
from flightlog.errors import ExportError
from flightlog.exporters.columns import HISTORY_SCHEMA, SCHEMA_VERSION
from flightlog.exporters.sources import local_runs
from flightlog.exporters.to_parquet import export_parquet


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], Path]:
    """(root, run dirs, dataset): two projects, one run id that looks like a number."""
    base = tmp_path_factory.mktemp("parquet")
    root = base / "runs"
    runs = [make_mixed_run(root, "12345"), make_mixed_run(root, "abc", steps=9),
            make_mixed_run(root, "zz9", project="other")]
    out = base / "dataset"
    report = export_parquet(local_runs([root]), out, wide=True)
    assert report.runs == 3 and not report.skipped
    return root, runs, out


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_point_reads_back_exactly(exported: tuple[Path, list[Path], Path],
                                        reader: str) -> None:
    _, runs, out = exported
    want = sorted((p for r in runs for p in expected_points(r)), key=repr)
    got = normalise(READERS[reader](out))
    assert got == want


def test_wide_pivot_in_duckdb_equals_history(exported: tuple[Path, list[Path], Path]
                                             ) -> None:
    """The long form pivots back to history(): same steps, same typed cells."""
    import duckdb

    _, runs, out = exported
    run = flightlog.open_run(runs[1])
    history = run.history()
    rel = duckdb.sql(
        f"select step, timestamp, key, value_double, value_int, value_str, value_bool "
        f"from read_parquet('{out}/history/**/*.parquet', {DUCKDB_HIVE}) "
        f"where project = '{run.project}' and run = '{run.id}' order by step")
    cells: dict[tuple[int, str | None], Any] = {}
    stamps = {}
    for step, ts, key, *values in rel.fetchall():
        cells[(step, key)] = next((v for v in values if v is not None), None)
        stamps[step] = ts
    assert sorted(stamps) == history["_step"].to_pylist()
    assert [stamps[s] for s in sorted(stamps)] == history["_timestamp"].to_pylist()
    for field in history.schema:
        if field.name in ("_step", "_timestamp"):
            continue
        column = [cells.get((s, field.name)) for s in history["_step"].to_pylist()]
        assert repr(column) == repr(history[field.name].to_pylist()), field.name


def test_wide_dataset_is_history_itself(exported: tuple[Path, list[Path], Path]) -> None:
    _, runs, out = exported
    run = flightlog.open_run(runs[0])
    path = out / "wide" / "project=p.1" / "run=12345" / "part-00000.parquet"
    table = pq.read_table(path)
    history = run.history()
    assert table.schema.remove_metadata() == history.schema.remove_metadata()
    assert repr(table.to_pylist()) == repr(history.to_pylist())


def test_runs_dataset_one_row_per_run_with_typed_config(
        exported: tuple[Path, list[Path], Path]) -> None:
    import duckdb

    _, runs, out = exported
    rows = duckdb.sql(
        f"select project, run, name, status, steps, \"config.alpha\", \"config.layers\", "
        f"\"config.opt.name\", \"config.flag\", config_json, \"summary.best\", "
        f"history_columns_json from read_parquet('{out}/runs/**/*.parquet', {DUCKDB_HIVE}, "
        f"union_by_name=true) order by project, run").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("other", "zz9"), ("p.1", "12345"),
                                            ("p.1", "abc")]
    run = flightlog.open_run(runs[0])
    row = rows[1]
    assert row[2:9] == ("run-12345", "finished", run.history().num_rows, 0.5, 3, "adam",
                        True)
    assert json.loads(row[9]) == run.config
    assert row[10] == 0.25
    assert [k for k, _ in json.loads(row[11])] == run.history().column_names[2:]
    types = duckdb.sql(f"select \"config.alpha\", \"config.layers\" from read_parquet("
                       f"'{out}/runs/**/*.parquet', {DUCKDB_HIVE}, union_by_name=true)"
                       ).types
    assert [str(t) for t in types] == ["DOUBLE", "BIGINT"]


def test_manifest_digests_metadata_and_compression(exported: tuple[Path, list[Path], Path]
                                                   ) -> None:
    _, _, out = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == SCHEMA_VERSION
    parts = [p for by_id in manifest["runs"].values() for e in by_id.values()
             for p in [*e["history"]["parts"], *e["wide"]["parts"],
                       *e["snapshots"].values()]]
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert sorted(p["path"] for p in parts) == on_disk
    for part in parts:
        data = (out / part["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
        assert len(data) == part["bytes"]
        meta = pq.ParquetFile(out / part["path"]).metadata
        assert meta.metadata[b"flightlog.schema"] == SCHEMA_VERSION.encode()
        assert meta.row_group(0).column(0).compression == "ZSTD"


def test_history_files_have_the_documented_types_and_encodings(
        exported: tuple[Path, list[Path], Path]) -> None:
    """docs/parquet-layout.md: pyarrow alone reads HISTORY_SCHEMA (``key`` a string, not
    the dictionary the exporter builds), ``key`` dictionary-encoded without statistics,
    ``step`` with them."""
    import pyarrow as pa

    _, _, out = exported
    files = sorted((out / "history").rglob("*.parquet"))
    assert files
    for path in files:
        assert pq.read_schema(path).remove_metadata() == HISTORY_SCHEMA
        assert pq.read_table(path).schema.field("key").type == pa.string()
        group = pq.ParquetFile(path).metadata.row_group(0)
        columns = {group.column(i).path_in_schema: group.column(i)
                   for i in range(group.num_columns)}
        assert "RLE_DICTIONARY" in columns["key"].encodings
        assert columns["key"].statistics is None
        assert columns["step"].statistics.has_min_max
        assert "DELTA_BINARY_PACKED" in columns["step"].encodings


def _grow(run_dir: Path, steps: int) -> None:
    run = flightlog.open_run(run_dir)
    again = flightlog.init(project=run.project, id=run.id, dir=run_dir.parent.parent,
                           resume=True, quiet=True)
    for i in range(steps):
        again.log({"loss": float(i), "late": i})
    again.finish()


def test_incremental_export_appends_only_new_steps(tmp_path: Path) -> None:
    root, out = tmp_path / "runs", tmp_path / "out"
    grown = make_mixed_run(root, "g1")
    make_mixed_run(root, "same")
    export_parquet(local_runs([root]), out)
    before = {p: p.read_bytes() for p in out.rglob("*.parquet")}
    again = export_parquet(local_runs([root]), out)
    assert (again.parts, again.points) == (0, 0)
    _grow(grown, 4)
    third = export_parquet(local_runs([root]), out)
    new = {p for p in out.rglob("*.parquet")} - set(before)
    rel = sorted(str(p.relative_to(out)) for p in new)
    assert rel == ["history/project=p.1/run=g1/part-00001.parquet"]
    assert all(p.read_bytes() == b for p, b in before.items() if "run=g1" not in str(p)
               or "history" in str(p))
    entry = json.loads((out / "manifest.json").read_text())["runs"]["p.1"]["g1"]
    first, second = entry["history"]["parts"]
    assert second["first_step"] == first["last_step"] + 1
    assert third.points == 8  # 4 steps x (loss, late)
    want = sorted((p for r in (grown, root / "p.1" / "same") for p in expected_points(r)),
                  key=repr)
    assert normalise(READERS["duckdb"](out)) == want


def test_live_run_holds_its_last_step_back(tmp_path: Path) -> None:
    """The last step of a running run may still merge keys: it is exported once the run
    has a later step or has ended, never twice."""
    root, out = tmp_path / "runs", tmp_path / "out"
    run = flightlog.init(project="p", id="live", dir=root, quiet=True, flush_interval=0.01)
    try:
        for a in (1, 2, 3):
            run.log({"a": a}, step=a - 1)  # step 2 stays open for more keys
        run.flush()
        reader = flightlog.open_run(run.dir)
        wait_until(lambda: reader.history().num_rows == 3, 30, "steps 0..2 readable")
        export_parquet(local_runs([root]), out)
        assert sorted(r["step"] for r in READERS["duckdb"](out)) == [0, 1]
        run.log({"b": 4}, step=2)  # merged into step 2 (SPEC.md §11.2)
    finally:
        run.finish()
    export_parquet(local_runs([root]), out)
    points = normalise(READERS["duckdb"](out))
    assert points == expected_points(Path(run.dir))
    assert [(p[2], p[4]) for p in points if p[2] == 2] == [(2, "a"), (2, "b")]


def test_since_manifest_writes_only_what_it_lacks(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    first = make_mixed_run(root, "a1")
    export_parquet(local_runs([root]), tmp_path / "full")
    make_mixed_run(root, "b2")
    report = export_parquet(local_runs([root]), tmp_path / "delta",
                            since_manifest=tmp_path / "full" / "manifest.json")
    assert report.runs == 2
    written = sorted(str(p.relative_to(tmp_path / "delta"))
                     for p in (tmp_path / "delta").rglob("*.parquet"))
    assert all("run=b2" in p for p in written) and written
    assert "a1" in json.loads((tmp_path / "delta" / "manifest.json").read_text()
                              )["runs"]["p.1"]
    assert first.exists()


def test_cli_export_and_damaged_manifest(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root, out = tmp_path / "runs", tmp_path / "out"
    make_mixed_run(root, "c1")
    assert main(["export", "parquet", str(root), "-o", str(out)]) == 0
    assert "exported 1 runs" in capsys.readouterr().out
    (out / "manifest.json").write_text('{"format": "something else"}')
    assert main(["export", "parquet", str(root), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json" in err and "not a flightlog Parquet manifest" in err
    with pytest.raises(ExportError):
        export_parquet(local_runs([root]), out)


def test_tables_and_file_manifest(tmp_path: Path) -> None:
    import duckdb

    root, out = tmp_path / "runs", tmp_path / "out"
    (tmp_path / "model.bin").write_bytes(b"\0weights" * 10)
    run = flightlog.init(project="p", id="t1", dir=root, quiet=True)
    run.log_table("preds", {"x": [1, 2, 3], "y": [0.5, float("nan"), None]})
    run.upload_file("outputs/model.bin", tmp_path / "model.bin")
    run.finish()
    export_parquet(local_runs([root]), out)
    table = flightlog.open_run(run.dir).tables()["preds"]
    got = pq.read_table(out / "tables/project=p/run=t1/table=preds/part-00000.parquet")
    assert repr(got.to_pylist()) == repr(table.to_pylist())
    files = duckdb.sql(f"select run, name, size, sha256 from read_parquet("
                       f"'{out}/files/**/*.parquet', {DUCKDB_HIVE})").fetchall()
    data = (tmp_path / "model.bin").read_bytes()
    assert files == [("t1", "outputs/model.bin", len(data),
                      hashlib.sha256(data).hexdigest())]


def test_checked_in_example_reads_as_its_run(tmp_path: Path) -> None:
    """tests/exporters/data/: a tiny run directory and its export, frozen. The frozen
    dataset still reads as the run's history, and exporting the run again gives the same
    rows (the layout did not drift)."""
    data = Path(__file__).parent / "data"
    run_dir = next((data / "runs").glob("*/*"))
    assert normalise(READERS["duckdb"](data / "dataset")) == expected_points(run_dir)
    root = tmp_path / "runs"
    shutil.copytree(data / "runs", root)
    export_parquet(local_runs([root]), tmp_path / "again")
    assert normalise(READERS["pyarrow"](tmp_path / "again")) == normalise(
        READERS["pyarrow"](data / "dataset"))


def test_export_from_a_server_page_by_page(tmp_path: Path, procs: list[Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``--server``: the runs read through Api (two runs a page here) export to the same
    points as the run directories they were synced from."""
    from syncd_helpers import Server

    import flightlog.exporters.sources as sources

    root = tmp_path / "runs"
    for run_id in ("s1", "s2", "s3"):
        make_mixed_run(root, run_id)
    server = Server(tmp_path / "server", procs).start()
    assert main(["sync", str(root), "--server", server.url, "--state",
                 str(tmp_path / "state")]) == 0
    monkeypatch.setattr(sources, "PAGE", 2)
    out = tmp_path / "out"
    assert main(["export", "parquet", "--server", server.url, "-o", str(out)]) == 0
    want = sorted((p for r in sorted((root / "p.1").iterdir()) for p in expected_points(r)),
                  key=repr)
    assert normalise(READERS["duckdb"](out)) == want
    files = sorted(str(p.relative_to(out)) for p in (out / "runs").rglob("*.parquet"))
    assert files == [f"runs/project=p.1/run={r}/part-00000.parquet" for r in ("s1", "s2",
                                                                               "s3")]
