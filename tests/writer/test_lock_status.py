"""One writer per run (the flock of SPEC.md §13) and the run status it implies (§11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flightlog.format import iter_records
from flightlog.format.segment import list_segments
from writer_helpers import Child, verify, wait_until

import flightlog

PROJECT = "locks"


def segment_bytes(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for _, path in list_segments(run_dir)}


def hold(root: Path, run_id: str, children: list[Child], resume: bool = False) -> Child:
    child = Child("hold", root, PROJECT, run_id, "1" if resume else "0")
    children.append(child)
    child.wait_line("ready")
    return child


# ---------------------------------------------------------------- second writers


def test_second_writer_is_refused_while_a_process_holds_the_run(
        root: Path, children: list[Child]) -> None:
    holder = hold(root, "held", children)
    run_dir = root / PROJECT / "held"
    assert flightlog.open_run(run_dir).status == "running"
    wait_until(lambda: flightlog.open_run(run_dir).history().num_rows == 1, what="the row")
    before = segment_bytes(run_dir)

    # From this process.
    with pytest.raises(flightlog.RunLocked) as info:
        flightlog.init(project=PROJECT, id="held", resume=True, dir=root)
    error = info.value
    assert isinstance(error, flightlog.WriterError)
    assert isinstance(error, flightlog.FlightlogError)
    assert "another writer holds this run" in str(error)
    assert f'"pid": {holder.pid}' in str(error), str(error)  # names the holder
    assert error.path is not None and error.path.endswith("writer.lock")
    assert flightlog.run is None

    # From a third process.
    second = Child("second", root, PROJECT, "held")
    children.append(second)
    line = second.wait_line("raised", timeout=30)
    assert second.finish() == 0, second.stderr
    assert line[1] == "RunLocked", line
    assert str(holder.pid) in " ".join(line)

    # Neither wrote anything; the holder is still the writer.
    assert segment_bytes(run_dir) == before
    assert flightlog.open_run(run_dir).status == "running"
    holder.send("finish")
    holder.wait_line("finished")
    assert holder.finish() == 0, holder.stderr
    r = flightlog.open_run(run_dir)
    assert (r.status, r.name, r.history()["held"].to_pylist()) == ("finished", "holder", [1])
    runs = [rec for rec in iter_records(run_dir) if rec.type_name == "run"]
    assert len(runs) == 1  # no second writer ever got as far as a run record
    assert verify(run_dir)[0] == 0


def test_second_writer_in_the_same_process_is_refused(root: Path) -> None:
    run = flightlog.init(project=PROJECT, id="same", dir=root, flush_interval=0.05)
    run.log({"a": 1})
    with pytest.raises(flightlog.RunLocked, match="another writer holds this run"):
        flightlog.init(project=PROJECT, id="same", resume=True, dir=root)
    assert flightlog.run is run
    assert flightlog.open_run(run.dir).status == "running"
    run.log({"a": 2})  # the first writer is unaffected
    run.finish()
    # Once it finished, the run can be continued.
    again = flightlog.init(project=PROJECT, id="same", resume=True, dir=root,
                           flush_interval=0.05)
    wait_until(lambda: flightlog.open_run(run.dir).status == "running", what="running")
    again.log({"a": 3})
    again.finish()
    r = flightlog.open_run(run.dir)
    assert r.status == "finished"
    assert r.history()["a"].to_pylist() == [1, 2, 3]
    assert r.history()["_step"].to_pylist() == [0, 1, 2]
    assert verify(run.dir)[0] == 0


# ---------------------------------------------------------------- status


def test_status_running_then_crashed_at_once_after_sigkill(root: Path,
                                                           children: list[Child]) -> None:
    holder = hold(root, "victim", children)
    run_dir = root / PROJECT / "victim"
    reader = flightlog.open_run(run_dir)
    assert reader.status == "running"
    wait_until(lambda: reader.history().num_rows == 1, what="the row")
    holder.kill()  # SIGKILL + wait: nothing more
    assert reader.status == "crashed"  # the same reader object, refreshed
    assert flightlog.open_run(run_dir).status == "crashed"
    assert flightlog.open_run(run_dir).exit_code is None
    holder.close()
    assert verify(run_dir)[0] == 0


@pytest.mark.parametrize(("command", "exit_status", "status", "exit_code"), [
    ("finish", 0, "finished", 0),
    ("exit", 0, "finished", 0),  # no finish(): the atexit hook finishes it (W&B behaviour)
    ("raise", 1, "crashed", 1),  # unhandled exception: finished with exit code 1
    ("vanish", 3, "crashed", None),  # os._exit: no finish record, no lock
])
def test_status_after_the_process_ends(root: Path, children: list[Child], command: str,
                                       exit_status: int, status: str,
                                       exit_code: int | None) -> None:
    holder = hold(root, command, children)
    run_dir = root / PROJECT / command
    wait_until(lambda: flightlog.open_run(run_dir).history().num_rows == 1, what="the row")
    holder.send(command)
    assert holder.finish() == exit_status, holder.stderr
    r = flightlog.open_run(run_dir)
    assert (r.status, r.exit_code) == (status, exit_code)
    assert r.history()["held"].to_pylist() == [1]
    assert verify(run_dir)[0] == 0


def test_status_finished_after_finish(root: Path) -> None:
    run = flightlog.init(project=PROJECT, dir=root)
    assert flightlog.open_run(run.dir).status == "running"
    run.finish()
    assert flightlog.open_run(run.dir).status == "finished"


def test_status_crashed_after_exception_in_with_block(root: Path) -> None:
    with pytest.raises(KeyError), flightlog.init(project=PROJECT, dir=root) as run:
        assert flightlog.open_run(run.dir).status == "running"
        raise KeyError("boom")
    r = flightlog.open_run(run.dir)
    assert (r.status, r.exit_code) == ("crashed", 1)


def test_finish_with_nonzero_exit_code_is_crashed(root: Path) -> None:
    run = flightlog.init(project=PROJECT, dir=root)
    run.finish(exit_code=2)
    assert (flightlog.open_run(run.dir).status, flightlog.open_run(run.dir).exit_code) == (
        "crashed", 2)


def test_resumed_finished_run_is_running_again_then_finished(root: Path,
                                                             children: list[Child]) -> None:
    run = flightlog.init(project=PROJECT, id="again", dir=root)
    run.log({"a": 1})
    run.finish()
    holder = hold(root, "again", children, resume=True)
    # (see test_bug_status_of_a_resumed_run_before_its_first_flush for why this waits)
    wait_until(lambda: flightlog.open_run(run.dir).status == "running", what="running")
    holder.send("finish")
    assert holder.finish() == 0, holder.stderr
    r = flightlog.open_run(run.dir)
    assert r.status == "finished"
    assert r.history()["_step"].to_pylist() == [0, 1]


# ---------------------------------------------------------------- resume flags


def test_existing_id_without_resume_is_refused(root: Path) -> None:
    run = flightlog.init(project=PROJECT, id="taken", dir=root)
    run.log({"a": 1})
    run.finish()
    before = segment_bytes(run.dir)
    for resume in (False, None, 0):
        with pytest.raises(flightlog.FlightlogError, match="resume=True") as info:
            flightlog.init(project=PROJECT, id="taken", dir=root, resume=resume)
        assert "taken" in str(info.value)
        assert not isinstance(info.value, flightlog.RunLocked)
    assert segment_bytes(run.dir) == before
    assert flightlog.open_run(run.dir).status == "finished"


def test_resume_must_with_a_missing_id(root: Path) -> None:
    with pytest.raises(flightlog.RunNotFound) as info:
        flightlog.init(project=PROJECT, id="nothere", dir=root, resume="must")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, flightlog.FlightlogError)
    assert "nothere" in str(info.value)
    assert not (root / PROJECT / "nothere").exists()


def test_resume_true_with_a_missing_id_starts_the_run(root: Path) -> None:
    run = flightlog.init(project=PROJECT, id="fresh", dir=root, resume=True)
    run.log({"a": 1})
    run.finish()
    r = flightlog.open_run(run.dir)
    assert (r.id, r.status, r.history()["_step"].to_pylist()) == ("fresh", "finished", [0])
    assert [rec.body.get("resumed") for rec in iter_records(run.dir)
            if rec.type_name == "run"] == [False]


# ------------------------------------------ regressions: bugs these tests found, now fixed


def _resume_with_changes(root: Path) -> tuple[flightlog.Run, dict[str, Any]]:
    run = flightlog.init(project=PROJECT, id="changes", name="first", dir=root,
                         config={"a": 1}, tags=["t1"])
    run.log({"loss": 1.0})
    run.finish()
    run = flightlog.init(project=PROJECT, id="changes", dir=root, resume=True,
                         config={"extra": 2}, tags=["t2"])
    run.log({"loss": 0.5})
    live = {"summary": dict(run.summary), "config": dict(run.config), "tags": dict(run.tags)}
    run.finish()
    return run, live


def test_regression_resume_config_and_tags_are_lost(root: Path) -> None:
    run, live = _resume_with_changes(root)
    assert live["config"] == {"a": 1, "extra": 2}
    r = flightlog.open_run(run.dir)
    assert json.dumps(r.config, sort_keys=True) == json.dumps(live["config"], sort_keys=True)
    assert r.tags == live["tags"] == {"t1": None, "t2": None}


def test_regression_resumed_run_summary_is_stale(root: Path) -> None:
    run, live = _resume_with_changes(root)
    assert flightlog.open_run(run.dir).summary["loss"] == 0.5
    assert live["summary"]["loss"] == 0.5


def test_regression_status_of_a_resumed_run_before_its_first_flush(root: Path) -> None:
    run = flightlog.init(project=PROJECT, id="slow", dir=root)
    run.finish()
    again = flightlog.init(project=PROJECT, id="slow", dir=root, resume=True,
                           flush_interval=5.0)
    try:
        assert flightlog.open_run(run.dir).status == "running"
    finally:
        again.finish()
