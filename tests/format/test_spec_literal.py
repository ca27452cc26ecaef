"""Real runs (resumed, killed, damaged, run by ``flightlog run``) and every vector, read by
``open_run`` and by a reader that follows SPEC.md literally (literal_reader.py, which
imports nothing of flightlog): both must derive the same state, findings included."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import literal_reader
import pytest
from flightlog.format.reader import RunLogReader, iter_records
from flightlog.format.segment import list_segments
from vector_state import EXECUTION_FIELDS, LATER_FIELDS, derived_state
from waiting import wait_until

import flightlog
import flightlog.errors

PROJECT = "literal"


def _form(value: Any) -> Any:
    """A value in the vectors' JSON form: bin as hex, NaN and infinities as strings."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_form(v) for v in value]
    return value


def literal_state(run_dir: Path, *, attached: bool = True) -> dict[str, Any]:
    got = literal_reader.derive(run_dir, attached=attached)
    del got["records"], got["torn"]
    return _form(got)


def assert_literal_reads_the_same_records(run_dir: Path) -> None:
    """The frames (SPEC.md §3-§7) as both read them: every record once, with its seq,
    type, segment and frame offset, and where each segment ends torn."""
    literal = literal_reader.derive(run_dir, attached=False)
    reader = RunLogReader(run_dir)
    assert [(r.seq, r.type, r.segment, r.offset) for r in reader.poll()] == [
        tuple(r) for r in literal["records"]]
    assert {int(Path(path).stem): offset for path, offset in reader.torn_tails()
            } == literal["torn"]


def assert_literal_agrees(run_dir: Path, *, attached: bool = True) -> dict[str, Any]:
    """Every field of the derived state, in order where order matters, the same; the
    same records and torn tails. ``attached=False``: tables and charts left unread by
    both."""
    assert_literal_reads_the_same_records(run_dir)
    ours = derived_state(run_dir, attached=attached)
    literal = literal_state(run_dir, attached=attached)
    assert sorted(ours) == sorted(literal)
    for key in ours:
        assert ours[key] == literal[key], key
    for key in ("summary", "config", "tags", "metrics", "tables", "files"):
        assert list(ours[key]) == list(literal[key]), key  # key order is part of it
    return ours


def _first_life(root: Path, run_id: str) -> Path:
    run = flightlog.init(project=PROJECT, id=run_id, name="first", dir=root,
                         config={"opt": {"lr": 0.1, "momentum": 0.9}, "layers": 2},
                         tags=["smoke"], flush_interval=3600)
    for step in range(6):
        run.log({"loss": 1.0 / (step + 1), "epoch": step // 2, "ok": step % 2 == 0,
                 "phase": "warm" if step < 3 else None})
    run.log({"mixed": 1})
    run.log({"mixed": 2.5})  # one flush: an any column of int and float
    run.log({"big": 2**64 - 1, "odd": "a"})
    with pytest.warns(flightlog.ValueTypeChanged):  # the writer keeps 'odd' str (§9.2)
        run.log({"odd": 3})
    run.log("lr", 0.1)
    run.log("loss", 0.01)  # also a history key
    run.summary["best"] = 0.1
    run.config.update({"opt": {"lr": 0.2}})
    run.tag("owner", "ann")
    # Tables of both kinds of piece, a chart, an image and a file (SPEC.md §10, §11.5).
    run.log_row("preds", id=1, score=0.5, tag="a")
    run.log_row("preds", id=2, score=0.25, note=[1, "x"])
    run.log_table("preds", {"id": [3], "score": [0.75], "tag": [7]})
    for version in range(2):  # a logged Table is a new version: replace (SPEC.md §11.5)
        run.log({"versions": flightlog.Table(data=[[version, "v"]] * (version + 1),
                                             columns=["n", "what"])})
    run.log_row("versions", n=9, extra=True)
    run.log({"curve": flightlog.plot.line(
        flightlog.Table(data=[[0.0, 0.0], [0.5, 0.8], [1.0, 1.0]], columns=["x", "y"]),
        "x", "y")})
    run.log_image("sample", plot=_figure())
    notes = root / f"{run_id}-notes.txt"
    notes.write_text("notes\n")
    run.upload_file("notes.txt", notes)
    run.finish()
    return Path(run.dir)


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.gca().plot([0, 1], [1, 0])
    return fig


def test_resumed_run(root: Path) -> None:
    run_dir = _first_life(root, "resumed")
    again = flightlog.init(project=PROJECT, id="resumed", dir=root, resume=True,
                           name="second", config={"batch": 32}, tags={"owner": "bob"},
                           flush_interval=3600)
    live_config, live_tags = dict(again.config), dict(again.tags)
    for step in range(3):
        again.log({"loss": 0.05 * step, "extra": step})
    again.config.update({"layers": 3})
    again.finish()
    state = assert_literal_agrees(run_dir)
    # The writer and the readers agree on what resuming made of config and tags.
    assert state["config"] == {**live_config, "layers": 3}
    assert state["tags"] == live_tags == {"smoke": None, "owner": "bob"}
    assert (state["name"], state["status"], state["exit_code"]) == ("second", "finished", 0)
    assert {c["name"]: c["type"] for c in state["history"]}["mixed"] == "float64"
    assert {c["name"]: c["type"] for c in state["history"]}["odd"] == "string"
    assert [c["values"] for c in state["tables"]["versions"]] == [[1, 1, 9], ["v", "v", None],
                                                                 [None, None, True]]


def test_resumed_run_killed_is_crashed(root: Path) -> None:
    run_dir = _first_life(root, "killed")
    code = textwrap.dedent(f"""
        import flightlog
        run = flightlog.init(project={PROJECT!r}, id="killed", dir={str(root)!r},
                             resume=True, config={{"batch": 8}}, tags=["retry"],
                             flush_interval=0.02, system_metrics=False)  # a still log
        run.log({{"loss": 0.5, "extra": "x"}})
        run.flush()
        print("logged", flush=True)
        import threading
        threading.Event().wait()
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "logged"
        wait_until(lambda: any(r.body.get("key") == "extra" or "extra" in
                               r.body.get("columns", {}) for r in iter_records(run_dir)),
                   60, "the resumed writer's row on disk")
        assert assert_literal_agrees(run_dir)["status"] == "running"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()
    state = assert_literal_agrees(run_dir)
    assert (state["status"], state["exit_code"]) == ("crashed", None)
    assert state["config"]["batch"] == 8 and "retry" in state["tags"]


def test_writer_killed_while_logging(root: Path) -> None:
    # SIGKILL at an arbitrary moment of a writer logging as fast as it can: wherever its
    # last frame stopped, both readers derive the same crashed run.
    code = textwrap.dedent(f"""
        import flightlog
        run = flightlog.init(project={PROJECT!r}, id="killed-fast", dir={str(root)!r},
                             flush_interval=0.005, system_metrics=False)
        step = 0
        while True:
            run.log({{"loss": 1.0 / (step + 1), "note": "x" * (step % 7), "n": step}})
            if step % 50 == 0:
                run.log("lr", 0.1)
                run.log_row("rows", i=step)
            step += 1
    """)
    child = subprocess.Popen([sys.executable, "-c", code])
    run_dir = root / PROJECT / "killed-fast"
    try:
        wait_until(lambda: (run_dir / "log").is_dir() and sum(
            1 for _ in iter_records(run_dir)) > 300, 120, "the writer's first records")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    state = assert_literal_agrees(run_dir)
    assert (state["status"], state["exit_code"]) == ("crashed", None)
    assert len(state["history"][0]["values"]) > 100
    # Resumed after the kill (SPEC.md §3.2): a new segment whose sequence numbers go on
    # from the last record read, whatever torn tail the kill left in the first one.
    again = flightlog.init(project=PROJECT, id="killed-fast", dir=root, resume=True,
                           config={"after": "kill"}, flush_interval=3600,
                           system_metrics=False)
    again.log({"loss": 0.0, "n": -1})
    again.finish()
    assert len(list_segments(run_dir)) == 2
    resumed = assert_literal_agrees(run_dir)
    assert (resumed["status"], resumed["exit_code"]) == ("finished", 0)
    assert resumed["findings"] == []  # a torn tail is a note, never a finding
    assert resumed["config"]["after"] == "kill"


@pytest.mark.parametrize("where", ["file-header", "frame-middle", "second-segment"])
def test_damaged_run(root: Path, where: str) -> None:
    run_dir = _first_life(root, "damaged")
    again = flightlog.init(project=PROJECT, id="damaged", dir=root, resume=True,
                           config={"batch": 16}, flush_interval=3600)
    again.log({"loss": 0.001})
    again.finish()
    segments = list_segments(run_dir)
    assert len(segments) == 2
    copy = root / PROJECT / f"copy-{where}"
    shutil.copytree(run_dir, copy)
    path = copy / "log" / segments[0 if where != "second-segment" else 1][1].name
    data = bytearray(path.read_bytes())
    offset = {"file-header": 5, "frame-middle": len(data) // 2,
              "second-segment": len(data) - 3}[where]
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        findings = flightlog.open_run(copy).findings
    assert findings, where
    assert_literal_agrees(copy)


def test_one_flipped_byte_or_a_cut_anywhere_in_a_real_run(root: Path) -> None:
    # The frame rules (SPEC.md §3-§5) against open_run's on damage at ~60 places: the
    # file header, frame headers, payloads, and the file cut short (a torn tail).
    run_dir = _first_life(root, "swept")
    segment = list_segments(run_dir)[0][1]
    data = segment.read_bytes()
    copy = root / PROJECT / "swept-copy"
    damages: list[tuple[str, bytes]] = []
    for offset in sorted({*range(0, 16, 3), *range(16, len(data), max(1, len(data) // 45))}):
        flipped = bytearray(data)
        flipped[offset] ^= 0x40
        damages.append((f"byte {offset} flipped", bytes(flipped)))
    for cut in (len(data) - 1, len(data) - 30, len(data) // 2, 40, 16, 10):
        damages.append((f"cut at {cut}", data[:cut]))
    for what, damaged in damages:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run_dir, copy)
        (copy / "log" / segment.name).write_bytes(damaged)
        try:
            assert_literal_agrees(copy)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from exc


def test_flightlog_run_of_a_script(root: Path, tmp_path: Path) -> None:
    # SPEC.md §19 as `flightlog run` writes it: console of both streams with a progress
    # bar, system samples, environment, a code snapshot, and a script ended by SIGTERM.
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(textwrap.dedent("""
        import os, signal, sys
        import flightlog
        run = flightlog.init(project="literal", config={"lr": 0.1})
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)})
            print(f"epoch {step}", flush=True)
        for i in range(50):
            sys.stderr.write(f"\\rbar {i + 1}/50")
            sys.stderr.flush()
        sys.stderr.write("\\n")
        run.flush()
        os.kill(os.getpid(), signal.SIGTERM)
    """))
    (work / "lib.py").write_text("X = 1\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("FLIGHTLOG_RUN_DIR", "FLIGHTLOG_RUNNER_FD")}
    done = subprocess.run(
        [sys.executable, "-m", "flightlog.cli", "run", "--project", PROJECT, "--id", "ran",
         "--dir", str(root), "--system-interval", "0.2", "--quiet", "--",
         sys.executable, "train.py"], cwd=work, env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    state = assert_literal_agrees(root / PROJECT / "ran")
    assert (state["status"], state["exit_code"], state["signal"]) == (
        "crashed", 128 + signal.SIGTERM, "SIGTERM")
    texts = [(ln["stream"], ln["text"]) for ln in state["console"] if not ln["overwritten"]]
    assert ("stderr", "bar 50/50") in texts and ("stdout", "epoch 2") in texts
    assert {f["path"] for f in state["code"]["files"]} == {"train.py", "lib.py"}
    assert state["environment"]["command"] == [sys.executable, "train.py"]


def test_resumed_run_of_a_killed_script_forgets_its_signal(root: Path) -> None:
    # The signal of a finish that a resume made stand no longer is not the run's (§19).
    run = flightlog.init(project=PROJECT, id="signalled", dir=root, flush_interval=3600)
    run.finish(exit_code=137, signal="SIGKILL")
    again = flightlog.init(project=PROJECT, id="signalled", dir=root, resume=True,
                           flush_interval=3600)
    again.finish()
    state = assert_literal_agrees(root / PROJECT / "signalled")
    assert (state["status"], state["exit_code"], state["signal"]) == ("finished", 0, None)


VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _vector_run(tmp_path: Path, name: str) -> Path:
    """The vector ``name`` as a run directory ``<tmp>/run/<case>`` (with its attached
    files), so that the names a run without a run record takes are the vector's."""
    facts = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    run = tmp_path / "run" / name.split("/")[1]
    if name.startswith("run/"):
        shutil.copytree(VECTORS / name, run)
        return run
    (run / "log").mkdir(parents=True)
    shutil.copyfile(VECTORS / f"{name}.bin", run / "log" / "00000000.flseg")
    for sha, content in facts.get("attached", {}).items():
        blob = run / "files" / "sha256" / sha[:2] / sha[2:]
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(bytes.fromhex(content))
    return run


def _vector_names() -> list[str]:
    return sorted(str(p.relative_to(VECTORS).with_suffix("")) for d in VECTORS.iterdir()
                  if d.is_dir() and not (d / "SHA256SUMS").exists() for p in d.glob("*.json"))


@pytest.mark.parametrize("name", _vector_names())
def test_literal_reader_reads_every_vector_as_its_json_says(tmp_path: Path,
                                                             name: str) -> None:
    facts = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    run = _vector_run(tmp_path, name)
    if facts.get("fatal"):  # §3.1 rule 3: the segment is not read, the run refused
        with pytest.raises(literal_reader.UnsupportedMajor):
            literal_reader.derive(run)
        with pytest.raises(flightlog.errors.UnsupportedVersion):
            flightlog.open_run(run)
        return
    if name == "record/chart-media":
        # Its attached files are placeholders, not Arrow IPC (SPEC.md §16): both readers
        # report its table and chart unreadable (§10.4), each by key, file and reason,
        # and read the rest of the run; with the files gone, as absent.
        for remove in (False, True):
            removed = run.parent / "without-files" / run.name
            if remove:
                shutil.copytree(run, removed)
                shutil.rmtree(removed / "files")
            target = removed if remove else run
            opened = flightlog.open_run(target)
            with pytest.warns(flightlog.FlightlogWarning, match="predictions"):
                assert opened.tables() == {}
            with pytest.warns(flightlog.FlightlogWarning, match="curve"):
                assert opened.charts() == {}
            reason = "absent" if remove else "format"
            assert [(what, e.key, e.reason) for what, e in opened.unreadable()] == [
                ("table", "predictions", reason), ("chart", "curve", reason)]
            assert all(e.sha256 and e.sha256 in str(e) for _, e in opened.unreadable())
            assert [(u["record"], u["key"], u["reason"]) for u in
                    literal_reader.derive(target)["unreadable"]] == [
                ("table", "predictions", reason), ("chart", "curve", reason)]
    got = literal_reader.derive(run)
    segments = facts.get("segments") or [dict(facts, index=0)]
    # Frames (§3-§7): every record with its seq, type and frame offset; torn tails.
    assert [list(r) for r in got["records"]] == [
        [r["seq"], r["type"], seg["index"], r["offset"]] for seg in segments
        for r in seg["records"]]
    assert got["torn"] == {seg["index"]: seg["torn_offset"] for seg in segments
                           if seg["torn"]}
    want_findings = (facts["state"]["findings"] if "state" in facts else
                     [dict(f, segment=0) for f in facts["findings"]])
    keys = [sorted(f) for f in want_findings]
    assert [{k: f.get(k) for k in key} for f, key in zip(got["findings"], keys,
                                                        strict=False)] == want_findings
    assert len(got["findings"]) == len(want_findings)
    if "state" in facts:  # the hand-written state of 1.2 and 1.3 vectors
        literal = literal_state(run)
        want = facts["state"]
        for key in set(literal) - set(want):
            assert key in EXECUTION_FIELDS or (key in LATER_FIELDS and not literal[key])
        for key, value in want.items():
            assert literal[key] == value, key
        assert list(literal["summary"]) == list(want["summary"])


@pytest.mark.parametrize("name", [n for n in _vector_names() if n != "header/future-major"])
def test_literal_reader_agrees_with_open_run_on_every_vector(tmp_path: Path,
                                                              name: str) -> None:
    # record/chart-media's attached files are placeholders: both report them unreadable.
    assert_literal_agrees(_vector_run(tmp_path, name))


def test_a_run_pruned_by_flightlog_prune(root: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # SPEC.md §18.7: bundled, imported (a receipt), pruned by the real commands; both
    # readers read what is left as pruned, not damaged, and agree on all of it.
    import random

    from flightlog.cli import main

    rng = random.Random(7)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights" * 500)
    run = flightlog.init(project=PROJECT, id="pruned", dir=root, flush_interval=3600,
                         segment_bytes=4096, system_metrics=False, quiet=True)
    run.upload_file("model.bin", model)  # named only by records of the first segment
    run.log_table("early", {"x": [1, 2]})
    run_dir = Path(run.dir)

    def logged() -> int:
        return sum(p.stat().st_size for _, p in list_segments(run_dir))

    for _ in range(5):  # random floats do not compress: a 4 KiB segment per write or so
        for _ in range(150):
            run.log({"a": rng.random(), "b": rng.random(), "c": rng.random()})
        before = logged()
        run.flush()  # a segment is cut only between writes: one write per batch
        wait_until(lambda before=before: logged() > before, 30, "the batch written")
    run.log_table("late", {"y": [3.5]})
    run.finish()
    assert len(list_segments(run_dir)) >= 3
    disk, back, state = tmp_path / "disk", tmp_path / "back", tmp_path / "ledgers"
    assert main(["bundle", str(root), "-o", str(disk), "--dest", "site", "--state",
                 str(state)]) == 0
    (bundle,) = disk.glob("*.flbundle")
    assert main(["import", str(bundle), "--data", str(tmp_path / "data"), "-o",
                 str(back)]) == 0
    (receipt,) = back.glob("*.json")
    assert main(["prune", str(root), "--acked-by", str(receipt)]) == 0
    capsys.readouterr()
    assert (run_dir / "pruned.json").is_file()
    assert not (run_dir / "log" / "00000000.flseg").exists()
    ours = assert_literal_agrees(run_dir)
    mark = json.loads((run_dir / "pruned.json").read_text())
    assert ours["findings"] == [] and ours["unreadable"] == []
    assert ours["pruned"] == {"segments": mark["segments"], "next_seq": mark["next_seq"]}
    assert ours["status"] == "finished" and list(ours["tables"]) == ["late"]
    assert (ours["id"], ours["project"]) == ("pruned", PROJECT)  # from the mark
    assert main(["verify", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"Pruned: segments 0..{mark['segments'] - 1}" in out
    assert "MissingSegment" not in out and "SequenceError" not in out
