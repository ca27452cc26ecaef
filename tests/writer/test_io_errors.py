"""Failing disks never reach the training loop (SPEC.md §12); bugs of the writer thread do.

The main test uses a real OS error: a child process lowers RLIMIT_FSIZE (with SIGXFSZ
ignored), so writes past the limit fail with EFBIG or are cut short, exactly like a full
disk; later it raises the limit again. Other tests simulate ENOSPC in-process.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flightlog.format import RecordType, iter_records
from flightlog.writer import background
from flightlog.writer.background import BackgroundWriter
from flightlog.writer.segments import SegmentWriter
from writer_helpers import Child, verify, wait_until

import flightlog


def gaps(present: np.ndarray, total: int) -> int:
    """Number of maximal runs of values of range(total) missing from sorted ``present``."""
    mask = np.zeros(total, dtype=bool)
    mask[present] = True
    missing = ~mask
    return int(np.count_nonzero(missing[1:] & ~missing[:-1]) + int(missing[0])) if total else 0


def test_disk_full_never_reaches_the_training_loop(root: Path, children: list[Child]) -> None:
    child = Child("diskfull", root, "io", "full", 32 * 1024)
    children.append(child)
    line = child.wait_line("result", timeout=60)
    assert child.finish() == 0, child.stderr
    result: dict[str, Any] = json.loads(" ".join(line[1:]))
    assert result["raised"] is None, result["raised"]
    # One warning when writes start failing (not one per failed write), one on recovery.
    assert result["warnings_while_failing"] == 1
    assert (result["failing_warnings"], result["recovered_warnings"]) == (1, 1)

    run_dir = root / "io" / "full"
    r = flightlog.open_run(run_dir)
    assert r.findings == []
    assert r.status == "finished"
    assert r.summary["after"] == "recovered"
    records = iter_records(run_dir, strict=True)
    assert [rec.seq for rec in records] == list(range(len(records)))  # dropped: no seq

    logged, after = result["logged"], result["after"]
    h = r.history()
    i = h["i"].to_numpy()
    assert np.all(np.diff(i) > 0), "history is not strictly increasing"
    assert i[0] >= 0 and i[-1] < logged
    assert np.array_equal(h["_step"].to_numpy(), i)  # each row kept its own step
    assert np.array_equal(h["noise"].to_numpy(), np.sin(i) * 1e6)
    # Everything logged once writing worked again is there.
    assert set(range(after, logged)) <= set(i.tolist())

    # Dropped records are counted: each missing Azure metric is one record, each dropped
    # history chunk one record holding >= 1 missing rows (a run of missing rows is >= 1
    # chunk). So: missing metrics + runs of missing rows <= dropped <= missing metrics +
    # missing rows.
    metrics_logged = result["metrics"]
    m = r.get_metrics()["m"]
    m = m if isinstance(m, list) else [m]
    assert all(a < b for a, b in itertools.pairwise(m)) and set(m) <= set(metrics_logged)
    missing_metrics = len(metrics_logged) - len(m)
    missing_rows = logged - len(i)
    assert r.dropped == result["dropped"] > 0
    assert missing_rows > 0
    low = missing_metrics + gaps(i, logged)
    high = missing_metrics + missing_rows
    assert low <= r.dropped <= high, (low, r.dropped, high)
    dropped_records = [rec for rec in records if rec.type == RecordType.DROPPED]
    assert dropped_records and sum(rec.body["records"] for rec in dropped_records) == r.dropped
    assert all(isinstance(rec.body["reason"], str) for rec in dropped_records)

    # No corruption: every partial frame was cut off again.
    status, output = verify(run_dir)
    assert status == 0, output
    assert "torn" not in output, output


# ---------------------------------------------------------------- simulated ENOSPC


@pytest.fixture
def failing_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """While the event is set, every SegmentWriter.write fails with ENOSPC."""
    failing = threading.Event()
    real_write = SegmentWriter.write

    def write(self: SegmentWriter, payloads: Any) -> tuple[int, OSError | None]:
        if failing.is_set():
            return 0, OSError(errno.ENOSPC, "No space left on device (simulated)")
        return real_write(self, payloads)  # type: ignore[no-any-return]

    monkeypatch.setattr(SegmentWriter, "write", write)
    monkeypatch.setattr(BackgroundWriter, "MAX_RETRY_DELAY", 0.05)
    yield failing
    failing.clear()


def test_disk_that_recovers_in_time_loses_nothing(root: Path, failing_disk: threading.Event,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flightlog")
    failing_disk.set()
    run = flightlog.init(project="io", dir=root, flush_interval=0.02)
    for i in range(200):
        run.log({"i": i})
        run.log("m", i)
    run.summary["s"] = 1
    wait_until(lambda: any("cannot write" in rec.getMessage() for rec in caplog.records),
               what="the warning")
    failing_disk.clear()
    for i in range(200, 300):
        run.log({"i": i})
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.status == "finished" and r.dropped == 0
    assert r.history()["i"].to_pylist() == list(range(300))
    assert r.get_metrics()["m"] == list(range(200))
    assert r.summary["s"] == 1
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "flightlog"]
    assert sum("cannot write" in msg for msg in messages) == 1, messages
    assert sum("works again" in msg for msg in messages) == 1, messages
    assert verify(run.dir)[0] == 0


def test_finish_on_a_dead_disk_gives_up_without_raising(
        root: Path, failing_disk: threading.Event, caplog: pytest.LogCaptureFixture) -> None:
    failing_disk.set()
    run = flightlog.init(project="io", id="dead", dir=root, flush_interval=0.02)
    run.log({"i": 1})
    run.finish(timeout=0.3)  # neither raises nor hangs
    assert any("gave up" in rec.getMessage() for rec in caplog.records)
    assert flightlog.open_run(run.dir).status == "crashed"  # nothing written, lock gone
    failing_disk.clear()
    again = flightlog.init(project="io", id="dead", dir=root, resume=True)  # lock released
    again.finish()


# ------------------------------------------- backpressure and disks that refuse or hang


def timed_log(run: flightlog.Run, i: int) -> float:
    """Seconds ``run.log({"i": i})`` took."""
    t0 = time.monotonic()
    run.log({"i": i})
    return time.monotonic() - t0


def test_logging_never_waits_for_a_disk_that_refuses_writes(
        root: Path, failing_disk: threading.Event, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Backpressure (SPEC.md §12) holds the training loop to the writer's pace on a healthy
    # disk; a refusing disk must not hold it at all (it would wait MAX_WAIT per call).
    caplog.set_level(logging.WARNING, logger="flightlog")
    monkeypatch.setattr(BackgroundWriter, "MAX_WAIT", 1.0)
    failing_disk.set()
    run = flightlog.init(project="io", dir=root, flush_interval=0.02)
    i = 0
    while not any("cannot write" in rec.getMessage() for rec in caplog.records):
        i += 1
        assert timed_log(run, i) < 0.5 and i < 10_000_000, "no warning, or log waited"
    # Log for three times the unwritten bound: every call comes back at once.
    end = time.monotonic() + 3 * run._writer.max_unwritten
    slowest = 0.0
    while time.monotonic() < end:
        i += 1
        slowest = max(slowest, timed_log(run, i))
    assert slowest < 0.5, f"a log call waited {slowest:.2f} s for a disk that refuses writes"
    failing_disk.clear()
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.dropped == 0 and r.history()["i"].to_pylist() == list(range(1, i + 1))


def test_a_hung_write_holds_logging_up_once_and_at_most_max_wait(
        root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flightlog")
    monkeypatch.setattr(BackgroundWriter, "MAX_WAIT", 1.0)
    hung, release = threading.Event(), threading.Event()
    real_write = SegmentWriter.write

    def write(self: SegmentWriter, payloads: Any) -> tuple[int, OSError | None]:
        if not release.is_set():  # a write(2) that does not return (hung NFS mount)
            hung.set()
            release.wait(60)
        return real_write(self, payloads)  # type: ignore[no-any-return]

    monkeypatch.setattr(SegmentWriter, "write", write)
    run = flightlog.init(project="io", dir=root, flush_interval=0.02)
    try:
        run.log({"i": 0})
        wait_until(hung.is_set, what="the writer to hang in write(2)")
        # Past the unwritten bound, one call waits for the writer, gives up after MAX_WAIT
        # and says so; then logging goes on without waiting while the write hangs.
        i, waits = 0, []
        while not any("has not progressed" in rec.getMessage() for rec in caplog.records):
            i += 1
            waits.append(timed_log(run, i))
            assert i < 10_000_000, "logging never waited for the hung writer"
        assert 1.0 <= max(waits) < 5.0, max(waits)
        after = [timed_log(run, j) for j in range(i + 1, i + 2001)]
        i += len(after)
        assert max(after) < 0.5, f"log waited {max(after):.2f} s again for a hung write"
    finally:
        release.set()
    run.finish()
    r = flightlog.open_run(run.dir)
    assert r.status == "finished" and r.dropped == 0  # far below 1,000,000 buffered rows
    assert r.history()["i"].to_pylist() == list(range(i + 1))


# ---------------------------------------------------------------- writer thread bugs


def test_regression_in_the_writer_thread_surfaces_as_writer_error(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = flightlog.init(project="io", dir=root, flush_interval=0.02)
    run.log("before", 1)
    wait_until(lambda: flightlog.open_run(run.dir).get_metrics().get("before") == 1,
               what="the first record")

    def broken_encode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(background, "encode_history", broken_encode)
    run.log({"a": 1})
    run.flush()
    wait_until(lambda: not run._writer.alive(), what="the writer thread to stop")
    for call in (lambda: run.log({"a": 2}), lambda: run.log("m", 1),
                 lambda: run.summary.__setitem__("s", 1), lambda: run.flush()):
        with pytest.raises(flightlog.WriterError) as info:
            call()
        assert not isinstance(info.value, flightlog.WriterClosed)
        assert isinstance(info.value.__cause__, RuntimeError)
        assert "encoder bug" in str(info.value)
    with pytest.raises(flightlog.WriterError):
        run.finish()
    run.finish()  # idempotent afterwards
    r = flightlog.open_run(run.dir)
    assert r.status == "crashed"
    assert r.get_metrics() == {"before": 1}
    assert verify(run.dir)[0] == 0


# ------------------------------------------ regressions: bugs these tests found, now fixed


def test_regression_finish_record_dropped_when_the_backlog_is_full(
        root: Path, failing_disk: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BackgroundWriter, "MAX_BACKLOG_BYTES", 16 * 1024)
    failing_disk.set()
    run = flightlog.init(project="io", dir=root, flush_interval=0.02)
    count = 0

    def fill() -> bool:
        nonlocal count
        for _ in range(100):
            run.log({"i": count, "x": float(count)})
            count += 1
        run.flush()
        return run._writer._dropped_unreported > 0

    wait_until(fill, what="a full backlog")
    failing_disk.clear()  # the disk works again ...
    run.finish()  # ... and the run finishes normally
    r = flightlog.open_run(run.dir)
    assert r.dropped > 0
    assert r.status == "finished"
