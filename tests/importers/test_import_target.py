"""The shared writer side of the importers: deterministic ids, times kept, the cursor."""

from __future__ import annotations

from pathlib import Path

from importers_helpers import points_of, tree_bytes

import flightlog
from flightlog.importers._target import (
    ConsoleLine,
    Point,
    SourceRun,
    SystemPoint,
    run_id_for,
    write_run,
)


def _source(steps: int, **kw: object) -> SourceRun:
    points = [Point("loss", s, 1.0 / (s + 1), 1000.0 + s) for s in range(steps)]
    # a second key at the same steps, written a little later: its own wall time is kept
    points += [Point("acc", s, s / 10, 1000.25 + s) for s in range(0, steps, 2)]
    fields: dict[str, object] = {"kind": "test", "identity": "run-1", "project": "p",
                                 "name": "one", "config": {"lr": 0.1}, "points": points,
                                 "start_time": 999.0, "end_time": 1000.0 + steps}
    fields.update(kw)
    return SourceRun(**fields)  # type: ignore[arg-type]


def test_every_point_keeps_its_step_and_own_time(root: Path) -> None:
    report = write_run(_source(6), root)
    assert report.run_id == run_id_for("test", "run-1") == write_run(_source(6), root).run_id
    assert points_of(report.dir) == {
        "loss": [(s, 1.0 / (s + 1), 1000.0 + s) for s in range(6)],
        "acc": [(s, s / 10, 1000.25 + s) for s in range(0, 6, 2)]}
    run = flightlog.open_run(report.dir)
    assert run.created == 999.0 and run.status == "finished"
    assert run.history().column("_timestamp").to_pylist()[:2] == [1000.25, 1001.0]


def test_a_later_value_at_a_step_wins_and_the_earlier_is_counted(root: Path) -> None:
    source = _source(2, points=[Point("x", 0, 1.0, 10.0), Point("x", 0, 2.0, 11.0),
                                Point("x", 1, 3.0, 12.0)])
    report = write_run(source, root)
    assert points_of(report.dir) == {"x": [(0, 2.0, 11.0), (1, 3.0, 12.0)]}
    assert report.unmapped.counts == {"superseded point (same key and step)": {"x": 1}}


def test_metadata_changes_alone_are_written_and_then_nothing(root: Path) -> None:
    write_run(_source(4, exit_code=None), root)
    report = write_run(_source(4, exit_code=None), root)
    assert report.unchanged
    finished = write_run(_source(4, exit_code=0, config={"lr": 0.2}, tags={"t": "v"}), root)
    assert not finished.unchanged and finished.points == 0
    run = flightlog.open_run(finished.dir)
    assert (run.status, run.config["lr"], run.tags["t"]) == ("finished", 0.2, "v")
    before = tree_bytes(root)
    assert write_run(_source(4, exit_code=0, config={"lr": 0.2}, tags={"t": "v"}),
                     root).unchanged
    assert tree_bytes(root) == before


def test_console_and_system_metrics_grow_by_what_is_new(root: Path) -> None:
    def source(n: int) -> SourceRun:
        return _source(2, console=[ConsoleLine(f"line {i}", 1000.0 + i,
                                               "stderr" if i == 1 else "stdout")
                                   for i in range(n)],
                       system=[SystemPoint("system/cpu", 1000.0 + i, float(i))
                               for i in range(n)])

    write_run(source(3), root)
    report = write_run(source(5), root)
    assert (report.console, report.system, report.points) == (2, 2, 0)
    run = flightlog.open_run(report.dir)
    assert [(ln.time, ln.stream, ln.text) for ln in run.console()] == [
        (1000.0 + i, "stderr" if i == 1 else "stdout", f"line {i}") for i in range(5)]
    assert run.system_metrics().column("system/cpu").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_an_import_killed_part_way_is_completed_by_the_next(root: Path) -> None:
    # What a killed import leaves: the rows of steps 0..3 as the import writes them (one
    # whole row per step), and no cursor.
    full = write_run(_source(8), root / "clean")
    run_id = run_id_for("test", "run-1")
    partial = flightlog.init(project="p", id=run_id, dir=root, quiet=True)
    for s in range(4):
        row = {"loss": 1.0 / (s + 1), **({"acc": s / 10} if s % 2 == 0 else {})}
        partial.log(row, step=s, timestamp=1000.0 + s + (0.25 if s % 2 == 0 else 0))
    partial.finish(exit_code=None)
    report = write_run(_source(8), root)
    assert report.points == 4 + 2  # loss and acc of steps 4..7
    ours = points_of(report.dir)
    clean = points_of(full.dir)
    # the steps the killed import wrote keep their row time only: their own times were
    # in the wall-time table, which an import writes at its end
    for key in ("loss", "acc"):
        assert [p[:2] for p in ours[key]] == [p[:2] for p in clean[key]]
        assert [p for p in ours[key] if p[0] >= 4] == [p for p in clean[key] if p[0] >= 4]
    assert flightlog.open_run(report.dir).status == "finished"


def test_points_that_appear_below_the_imported_step_are_counted_once(root: Path) -> None:
    write_run(_source(4), root)
    late = _source(6)
    late.points = [*late.points, Point("late", 1, 5.0, 1001.5)]
    report = write_run(late, root)
    assert report.unmapped.counts == {"point below the imported step": {"steps <= 3": 1}}
    assert "late" not in points_of(report.dir)
    assert points_of(report.dir)["loss"][-1] == (5, 1.0 / 6, 1005.0)
    again = _source(6)
    again.points = [*again.points, Point("late", 1, 5.0, 1001.5)]
    assert write_run(again, root).unchanged
