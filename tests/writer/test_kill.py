"""Real writer processes killed with SIGKILL at random moments (SPEC.md §12, §13).

The child (``child_writer.py kill``) logs as fast as it can and reports each step it
logged with its CLOCK_MONOTONIC time; the test kills it at a random moment and checks
what the run directory holds:

- status ``crashed`` at once (the lock died with the process);
- the history is a gap-free prefix 0..k of the steps logged, and the Azure metrics and
  table rows are exactly those logged before the cut (records survive as a prefix);
- every step reported at least 1 s before the kill is there;
- sequence numbers are 0..n-1 and ``flightlog verify`` exits 0 (a torn tail is a note).

Seeds: ``FLIGHTLOG_TEST_SEED`` (default: random); every assertion message names it.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flightlog.format import RecordType, RunLogReader, iter_records
from flightlog.format._framing import encode_frame
from flightlog.format._msgpack_codec import pack_record
from flightlog.format.segment import list_segments
from writer_helpers import Child, verify

import flightlog

BASE_SEED = int(os.environ.get("FLIGHTLOG_TEST_SEED") or random.SystemRandom().randrange(2**31))
PROJECT = "killed"
CONFIG = {"lr": 0.01, "layers": [64, 32]}
DEFAULT_SEGMENT = 8 * 1024 * 1024
DURABLE_AFTER = 1.0  # SPEC.md §12: logged >= 1 s before a kill -> readable afterwards


@dataclass
class Killed:
    run_dir: Path
    seed: int
    delay: float
    steps: list[tuple[int, float]]  # (i, child's monotonic time after run.log returned)
    t_kill: float

    def why(self) -> str:
        last = self.steps[-1][0] if self.steps else None
        return (f"[seed {self.seed}; rerun with FLIGHTLOG_TEST_SEED={BASE_SEED}; killed "
                f"{self.delay:.2f} s after start, last reported step {last}]")


def kill_at_random(root: Path, run_id: str, seed: int, children: list[Child], *,
                   segment_bytes: int = DEFAULT_SEGMENT, width: int = 0,
                   min_delay: float = 0.3, max_delay: float = 3.0) -> Killed:
    """Start a logging child, wait until it has logged for a random 0.3-3 s plus a random
    number of further steps (conditions on its own reports, no sleeps), SIGKILL it."""
    rng = random.Random(seed)
    delay = rng.uniform(min_delay, max_delay)
    extra = rng.randrange(0, 3000)
    child = Child("kill", root, PROJECT, run_id, segment_bytes, width)
    children.append(child)
    ready = float(child.wait_line("ready")[1])

    def logged_long_enough(lines: list[list[str]]) -> bool:
        last = lines[-1]
        return len(last) == 2 and last[0] != "ready" and float(last[1]) >= ready + delay

    n = child.wait_for(logged_long_enough, timeout=delay + 30, what=f"{delay:.2f} s of logging")
    child.wait_for(lambda lines: len(lines) >= n + extra, what=f"{extra} more steps")
    t_kill = time.monotonic()
    child.kill()
    child.close()
    steps = [(int(line[0]), float(line[1])) for line in child.lines[1:]
             if len(line) == 2 and line[0].isdigit()]
    return Killed(root / PROJECT / run_id, seed, delay, steps, t_kill)


def as_list(value: object) -> list[object]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def logged_calls(last: int) -> list[tuple[str, int]]:
    """The records a child logs for steps 0..last, in order (see child_writer.py)."""
    calls: list[tuple[str, int]] = []
    for j in range(last + 1):
        calls.append(("row", j))
        if j % 7 == 0:
            calls.append(("m", j))
        if j % 50 == 0:
            calls.append(("t", j))
    return calls


def check_prefix(r: flightlog.LocalRun, k: int, why: str) -> None:
    """Azure metrics and table rows are what was logged up to a cut after row ``k``."""
    m = as_list(r.get_metrics().get("m"))
    table = r.tables().get("t")
    t = table.to_pydict()["i"] if table is not None else []
    calls = logged_calls(k)
    start = calls.index(("row", k)) + 1 if k >= 0 else 0
    options = [([j for kind, j in calls[:c] if kind == "m"],
                [j for kind, j in calls[:c] if kind == "t"]) for c in range(start, len(calls) + 1)]
    assert (m, t) in options, (f"{why} metric/table records are not the prefix of what was "
                               f"logged up to step {k}: m ends {m[-3:]}, t ends {t[-3:]}")


def check_killed_run(killed: Killed) -> int:
    """Everything a killed run must satisfy; returns k, its last step."""
    why = killed.why()
    r = flightlog.open_run(killed.run_dir)
    assert r.status == "crashed", why
    assert r.exit_code is None, why
    assert (r.name, r.project, r.config, r.tags) == ("kill-test", PROJECT, CONFIG,
                                                     {"kill": None}), why
    h = r.history()
    i = h["i"].to_numpy() if h.num_rows else np.array([], dtype=np.int64)
    k = len(i) - 1
    assert np.array_equal(i, np.arange(k + 1)), f"{why} history 'i' is not 0..{k}"
    assert np.array_equal(h["_step"].to_numpy(), np.arange(k + 1)), why
    assert np.array_equal(h["x"].to_numpy(), np.arange(k + 1) * 0.5), why
    reported = killed.steps[-1][0] if killed.steps else -1
    assert k <= reported + 1, f"{why} step {k} is in the log but only {reported} was logged"
    durable = [j for j, t in killed.steps if t <= killed.t_kill - DURABLE_AFTER]
    if durable:
        assert k >= durable[-1], (f"{why} step {durable[-1]} was logged >= 1 s before the "
                                  f"kill but the log ends at step {k}")
    check_prefix(r, k, why)

    records = iter_records(killed.run_dir, strict=True)
    assert [rec.seq for rec in records] == list(range(len(records))), why
    reader = RunLogReader(killed.run_dir)
    reader.poll()
    status, output = verify(killed.run_dir)
    assert status == 0, f"{why} verify:\n{output}"
    assert "CORRUPT" not in output, why
    if reader.torn_tails():
        assert "torn tail" in output, f"{why} verify did not note the torn tail:\n{output}"
    return k


# ---------------------------------------------------------------- kills


@pytest.mark.slow
@pytest.mark.parametrize("n", range(5))
def test_sigkill_at_a_random_moment(root: Path, children: list[Child], n: int) -> None:
    killed = kill_at_random(root, f"run{n}", BASE_SEED + n, children)
    assert killed.steps, killed.why()
    check_killed_run(killed)


@pytest.mark.slow
def test_sigkill_during_heavy_logging_and_segment_rotation(root: Path,
                                                           children: list[Child]) -> None:
    killed = kill_at_random(root, "heavy", BASE_SEED + 100, children, segment_bytes=4096,
                            width=24, min_delay=0.3, max_delay=2.0)
    assert len(list_segments(killed.run_dir)) >= 3, killed.why()
    k = check_killed_run(killed)
    h = flightlog.open_run(killed.run_dir).history()
    assert h.num_columns == 2 + 2 + 24 and h.num_rows == k + 1, killed.why()


# ---------------------------------------------------------------- resume


def resume_in_child(killed: Killed, children: list[Child], count: int = 300) -> dict[str, object]:
    k = flightlog.open_run(killed.run_dir).history().num_rows - 1
    child = Child("resume", killed.run_dir.parent.parent, PROJECT, killed.run_dir.name, k + 1,
                  count)
    children.append(child)
    done = child.wait_line("done", timeout=60)
    assert child.finish() == 0, child.stderr
    return json.loads(" ".join(done[1:]))


def check_resumed(killed: Killed, before_k: int, info: dict[str, object], count: int,
                  old_segments: dict[Path, bytes], last_seq: int) -> None:
    why = killed.why()
    end = before_k + 1 + count
    r = flightlog.open_run(killed.run_dir)
    assert r.status == "finished", why
    assert (r.name, r.config, r.tags) == ("kill-test", CONFIG, {"kill": None}), why
    assert (info["name"], info["config"]) == ("kill-test", CONFIG), why
    assert info["first_step"] == before_k + 1, why  # steps continue after the last step
    h = r.history()
    assert h["i"].to_pylist() == list(range(end)), why
    assert h["_step"].to_pylist() == list(range(end)), why
    # The resumed writer started a new segment and left the old ones byte for byte.
    segments = list_segments(killed.run_dir)
    old_indexes = sorted(int(p.stem) for p in old_segments)
    assert [i for i, _ in segments] == [*old_indexes, old_indexes[-1] + 1], why
    for path, data in old_segments.items():
        assert path.read_bytes() == data, f"{why} {path.name} changed on resume"
    records = iter_records(killed.run_dir, strict=True)
    assert [rec.seq for rec in records] == list(range(len(records))), why
    new = [rec for rec in records if rec.segment == old_indexes[-1] + 1]
    assert new[0].type == RecordType.SEGMENT and new[0].seq == last_seq + 1, why
    assert new[0].body["index"] == old_indexes[-1] + 1, why
    assert new[1].type == RecordType.RUN and new[1].body["resumed"] is True, why
    # Azure metrics: the killed part's prefix, then every one of the resumed part.
    m = as_list(r.get_metrics().get("m"))
    resumed_m = [j for j in range(before_k + 1, end) if j % 7 == 0]
    assert m[len(m) - len(resumed_m):] == resumed_m, why
    status, output = verify(killed.run_dir)
    assert status == 0, f"{why}\n{output}"


def snapshot(run_dir: Path) -> tuple[dict[Path, bytes], int]:
    segments = {path: path.read_bytes() for _, path in list_segments(run_dir)}
    return segments, iter_records(run_dir)[-1].seq


@pytest.mark.slow
def test_resume_after_sigkill(root: Path, children: list[Child]) -> None:
    killed = kill_at_random(root, "resumed", BASE_SEED + 200, children, max_delay=1.5)
    k = check_killed_run(killed)
    old_segments, last_seq = snapshot(killed.run_dir)
    info = resume_in_child(killed, children)
    check_resumed(killed, k, info, 300, old_segments, last_seq)


def append_torn_frame(run_dir: Path, first_seq: int, keep: int) -> int:
    """Append the first ``keep`` bytes of a real frame to the last segment: what a writer
    killed in the middle of its write(2) leaves. Returns the bytes appended."""
    record = pack_record(RecordType.METRIC, {"key": "torn", "value": 1.0, "time": 0.0})
    frame = encode_frame(record, first_seq=first_seq, record_count=1)
    assert keep < len(frame)
    _, last = list_segments(run_dir)[-1]
    with open(last, "ab") as f:
        f.write(frame[:keep])
    return keep


@pytest.mark.slow
@pytest.mark.parametrize("keep", [10, 40])  # inside the header; header whole, payload not
def test_torn_tail_then_resume(root: Path, children: list[Child], keep: int) -> None:
    killed = kill_at_random(root, f"torn{keep}", BASE_SEED + 300 + keep, children,
                            max_delay=1.0)
    records = iter_records(killed.run_dir)
    append_torn_frame(killed.run_dir, records[-1].seq + 1, keep)
    k = check_killed_run(killed)  # includes: verify exits 0 and notes the torn tail
    status, output = verify(killed.run_dir)
    assert status == 0 and "torn tail" in output, output
    assert "torn" not in flightlog.open_run(killed.run_dir).get_metrics()
    old_segments, last_seq = snapshot(killed.run_dir)
    info = resume_in_child(killed, children)
    check_resumed(killed, k, info, 300, old_segments, last_seq)
    status, output = verify(killed.run_dir)
    assert "torn tail" in output, output  # still there, in a segment that is not the last


def test_regression_empty_segment_left_by_a_kill_is_not_corruption(root: Path,
                                                            children: list[Child]) -> None:
    killed = kill_at_random(root, "empty-seg", BASE_SEED + 400, children, max_delay=0.5)
    last_index, _ = list_segments(killed.run_dir)[-1]
    (killed.run_dir / "log" / f"{last_index + 1:08d}.flseg").write_bytes(b"")
    assert flightlog.open_run(killed.run_dir).status == "crashed"
    status, output = verify(killed.run_dir)
    assert status == 0, output
