"""TensorBoard event files imported, compared value by value with what TensorBoard's own
reader (EventAccumulator, every event kept) reads from the same files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from importers_helpers import points_of, tree_bytes

import flightlog
from flightlog.importers.tensorboard import find_runs, import_tensorboard

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "tensorboard"
DAMAGED = DATA / "tensorboard_damaged"


def _accumulator(run_dir: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tensorboard.backend.event_processing import event_accumulator as ea

        acc = ea.EventAccumulator(str(run_dir), size_guidance={
            ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0, ea.AUDIO: 0,
            ea.COMPRESSED_HISTOGRAMS: 0})
        acc.Reload()
    return acc


def _ndarray(proto: Any) -> Any:
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(proto)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tb") / "runs"
    reports = import_tensorboard([GOLDEN], root)
    by_name = {r.dir.name: r for r in reports}
    assert len(by_name) == len(reports)
    return {"root": root, "reports": reports,
            "by_source": {Path(r.identity).parent.name if "/" in r.identity else "": r
                          for r in reports}}


def _report_for(imported: dict[str, Any], run_dir: Path) -> Any:
    (report,) = [r for r in imported["reports"] if r.identity.split("/")[0] == run_dir.name]
    return report


def _golden_runs() -> list[Path]:
    return [d for d, _ in find_runs(GOLDEN)]


def test_a_run_per_directory_with_event_files(imported: dict[str, Any]) -> None:
    names = sorted(flightlog.open_run(r.dir).name for r in imported["reports"])
    expected = ["tf2", "two_writers", "tbx"]
    if (GOLDEN / "torch").is_dir():
        expected.append("torch")
    hparams_dir = next(p.name for p in (GOLDEN / "tbx").iterdir() if p.is_dir())
    assert names == sorted([*expected, f"tbx/{hparams_dir}"])
    ids = {r.run_id for r in imported["reports"]}
    assert len(ids) == len(imported["reports"])  # deterministic and distinct


@pytest.mark.parametrize("run_dir", _golden_runs(), ids=lambda p: p.name)
def test_every_scalar_point_matches_event_accumulator(imported: dict[str, Any],
                                                      run_dir: Path) -> None:
    report = _report_for(imported, run_dir)
    acc = _accumulator(run_dir)
    ours = points_of(report.dir)
    expected: dict[str, list[tuple[int, Any, float]]] = {}
    for tag in acc.Tags()["scalars"]:
        expected[tag] = [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        arrays = [_ndarray(e.tensor_proto) for e in events]
        if all(a.ndim == 0 and a.dtype.kind in "fiub" for a in arrays):
            expected[tag] = [(e.step, a.item(), e.wall_time) for e, a in zip(events, arrays,
                                                                               strict=True)]
    assert expected, "the golden run has scalars"
    assert {k: sorted(v) for k, v in ours.items()} == {k: sorted(v) for k, v in
                                                       expected.items()}
    assert report.points >= sum(len(v) for v in expected.values())
    run = flightlog.open_run(report.dir)
    assert run.status == "finished"
    first = min(t for v in expected.values() for _, _, t in v)
    assert run.created is not None and run.created <= first + 1e-6


@pytest.mark.parametrize("run_dir", _golden_runs(), ids=lambda p: p.name)
def test_images_and_histograms_match_event_accumulator(imported: dict[str, Any],
                                                       run_dir: Path) -> None:
    report = _report_for(imported, run_dir)
    acc = _accumulator(run_dir)
    run = flightlog.open_run(report.dir)
    media = run.media()
    for tag in acc.Tags()["images"]:
        theirs = acc.Images(tag)
        mine = media[tag]
        assert [(m.step, m.read_bytes(), m.width, m.height) for m in mine] == [
            (e.step, e.encoded_image_string, e.width, e.height) for e in theirs]
    as_tables = report.unmapped.counts.get(
        "histogram kept as table rows (buckets not contiguous, or too many)", {})
    for tag in acc.Tags()["histograms"]:
        theirs = acc.Histograms(tag)
        if tag in as_tables:  # torch's default: 583 exponential buckets, over 512
            rows = run.tables()[tag].to_pylist()
            assert [(r["step"], r["right"], r["count"], r["num"]) for r in rows] == [
                (e.step, lim, c, e.histogram_value.num) for e in theirs
                for lim, c in zip(e.histogram_value.bucket_limit, e.histogram_value.bucket,
                                  strict=True)]
            continue
        mine = run.histograms(tag)
        assert [h.step for h in mine] == [e.step for e in theirs]
        for h, e in zip(mine, theirs, strict=True):
            value = e.histogram_value
            assert float(h.counts.sum()) == value.num
            assert h.edges[0] == value.min
            assert h.edges[-1] == min(value.bucket_limit[-1], value.max) or \
                h.edges[-1] == value.bucket_limit[-1]
            # the buckets, the leading empty one tensorboardX writes left out
            kept = [(lim, c) for lim, c in zip(value.bucket_limit, value.bucket, strict=True)
                    if not (c == 0 and lim <= value.min)]
            assert h.counts.tolist() == [c for _, c in kept]
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        if plugin == "images":
            assert [(m.step, m.read_bytes()) for m in media[tag]] == [
                (e.step, _ndarray(e.tensor_proto)[2]) for e in events]
        elif plugin == "histograms":
            mine = run.histograms(tag)
            assert [h.step for h in mine] == [e.step for e in events]
            for h, e in zip(mine, events, strict=True):
                buckets = _ndarray(e.tensor_proto)
                assert h.edges.tolist() == [buckets[0][0], *buckets[:, 1].tolist()]
                assert h.counts.tolist() == buckets[:, 2].tolist()


def test_unmapped_kinds_are_counted_and_named(imported: dict[str, Any]) -> None:
    report = _report_for(imported, GOLDEN / "tbx")
    assert report.unmapped.counts["text summary"] == {"notes/text_summary": 1}
    assert report.unmapped.counts[
        "histogram sum, sum_squares (flightlog keeps bins and counts)"] == {"weights": 3}
    hparams_dir = next(p for p in (GOLDEN / "tbx").iterdir() if p.is_dir())
    hp = _report_for(imported, hparams_dir)
    config = flightlog.open_run(hp.dir).config
    assert (config["lr"], config["layers"]) == (0.01, 3.0)


def test_two_writer_files_in_one_directory_are_one_run(imported: dict[str, Any]) -> None:
    report = _report_for(imported, GOLDEN / "two_writers")
    assert [step for step, _, _ in points_of(report.dir)["loss"]] == list(range(20))


def test_reimport_changes_no_byte(imported: dict[str, Any]) -> None:
    root = imported["root"]
    before = tree_bytes(root)
    again = import_tensorboard([GOLDEN], root)
    assert all(r.unchanged for r in again)
    assert tree_bytes(root) == before


def _scalar_event(tag: str, step: int, value: float) -> Any:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    return event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))


def test_a_grown_log_adds_only_the_new_points(tmp_path: Path) -> None:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir = tmp_path / "logs" / "exp"
    writer = EventFileWriter(str(logdir))  # flush() returns once the file has the events
    for step in range(30):
        writer.add_event(_scalar_event("loss", step, 1.0 / (step + 1)))
    writer.flush()
    root = tmp_path / "runs"
    (first,) = import_tensorboard([logdir], root)
    assert first.points == 30
    segments_before = tree_bytes(first.dir / "log")
    for step in range(30, 45):
        writer.add_event(_scalar_event("loss", step, 1.0 / (step + 1)))
    writer.close()
    (second,) = import_tensorboard([logdir], root)
    assert (second.run_id, second.points, second.already) == (first.run_id, 15, 30)
    # appended to: every earlier segment but the last is byte for byte what it was
    after = tree_bytes(second.dir / "log")
    assert all(after.get(name) == digest for name, digest in segments_before.items()
               if name != max(segments_before))
    acc = _accumulator(logdir)
    assert sorted(points_of(second.dir)["loss"]) == sorted(
        (e.step, e.value, e.wall_time) for e in acc.Scalars("loss"))


def _loaded_events(path: Path) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tensorboard.backend.event_processing.event_file_loader import (
            LegacyEventFileLoader,
        )

        return list(LegacyEventFileLoader(str(path)).Load())


def _scalar_points(events: list[Any]) -> dict[str, list[tuple[int, float, float]]]:
    out: dict[str, list[tuple[int, float, float]]] = {}
    for e in events:
        for v in e.summary.value:
            if v.WhichOneof("value") == "simple_value":
                out.setdefault(v.tag, []).append((e.step, v.simple_value, e.wall_time))
    return out


@pytest.mark.parametrize("case", ["torn", "bad_data_crc", "bad_length_crc"])
def test_damaged_event_files_give_everything_intact_and_a_report(tmp_path: Path,
                                                                 case: str) -> None:
    (original,) = (GOLDEN / "tbx").glob("events.out.tfevents.*")
    events = _loaded_events(original)
    if case == "torn":
        intact = events[:-1]          # the last record is cut
    elif case == "bad_data_crc":
        intact = events[:10] + events[11:]   # record 10 lost, reading goes on
    else:
        intact = events[:30]          # the framing cannot be trusted from record 30
    (report,) = import_tensorboard([DAMAGED / case], tmp_path / "runs")
    expected = _scalar_points(intact)
    assert {k: sorted(v) for k, v in points_of(report.dir).items()} == {
        k: sorted(v) for k, v in expected.items()}
    (problem,) = report.problems
    assert str(DAMAGED / case / original.name) in problem and "offset" in problem


def test_cli_import_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = Path(sys.executable).parent / "flightlog"
    logdir = tmp_path / "copy"
    shutil.copytree(GOLDEN / "two_writers", logdir / "two_writers")
    result = subprocess.run([str(exe), "import", "tensorboard", str(logdir), "-o",
                             str(tmp_path / "runs"), "--project", "from-tb"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "20 points" in result.stdout
    (run_dir,) = (tmp_path / "runs" / "from-tb").iterdir()
    # the imported run is an ordinary one: `flightlog show` (in this process: one spawn
    # is enough to prove the command line) reads it
    from flightlog.cli import main

    assert main(["show", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert "two_writers" in shown and "finished" in shown and "loss" in shown
