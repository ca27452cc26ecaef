"""A max-rate logger: what a SIGKILL would lose while training outruns the writer (SPEC.md §12).

The logger calls ``run.log({"x": float(i), "y": i * 2.0})`` in a tight loop for
``seconds`` (the reproduction of issue 9), timing each call with ``perf_counter_ns`` and
noting ``(i, monotonic)`` every 200 steps. Meanwhile an observer process (this file run as
a script) polls the run directory every 10 ms with ``RunLogReader``, as ``syncd`` tails a
live run, and notes ``(monotonic, history rows readable)``.

Unwritten age at a sample: the sample's time minus the time the first step not yet
readable was logged (bounded by the mark before it: at most 200 steps of error, the safe
way). That is what a SIGKILL at that moment would lose; the worst over all samples is
the figure. The writer's own bound (``BackgroundWriter.worst_unwritten_age``, the longest
any record may have waited) is printed next to it as a cross-check.
"""

from __future__ import annotations

import bisect
import gc
import json
import select
import subprocess
import sys
import time
from array import array
from pathlib import Path

from _peers import Result

MARK_EVERY = 200
POLL_S = 0.01


def bench_maxrate(workdir: Path, seconds: float) -> Result:
    import flightlog

    run = flightlog.init(project="bench", name="maxrate", dir=str(workdir))
    observer = subprocess.Popen([sys.executable, __file__, str(run.dir)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert observer.stdout is not None and observer.stdin is not None
    if observer.stdout.readline().strip() != "ready":
        raise RuntimeError("the observer process did not start")
    clock, log = time.perf_counter_ns, run.log
    latencies = array("q")
    marks: list[tuple[int, float]] = []
    gc.collect()
    start = time.monotonic()
    deadline = start + seconds
    i = 0
    while True:
        row = {"x": float(i), "y": i * 2.0}
        t0 = clock()
        log(row)
        latencies.append(clock() - t0)
        if i % MARK_EVERY == 0:
            now = time.monotonic()
            marks.append((i, now))
            if now >= deadline:
                break
        i += 1
    logged_s = time.monotonic() - start
    # Before finish's final write; NaN for a flightlog without backpressure.
    writer_bound = getattr(run._writer, "worst_unwritten_age", float("nan"))
    run.finish()
    observer.stdin.close()  # EOF: the observer prints its samples and exits
    samples = json.loads(observer.stdout.read())
    observer.wait()
    worst, at = worst_unwritten_age(samples, marks, start)
    ordered = sorted(latencies)
    waits = sum(1 for ns in latencies if ns > 1_000_000)
    result = Result(name="flightlog max-rate {x, y}", steps=i + 1, points=2 * (i + 1),
                    wall_s=logged_s, bytes=0, latencies_ns=list(latencies),
                    note=f"{len(samples)} observer samples; worst age at "
                    f"{at - start:.2f} s").summarize()
    result.extra = {"steps_per_s": (i + 1) / logged_s, "max_ms": ordered[-1] / 1e6,
                    "calls_over_1ms": float(waits), "worst_unwritten_s": worst,
                    "writer_bound_s": writer_bound}
    return result


def worst_unwritten_age(samples: list[list[float]], marks: list[tuple[int, float]],
                        start: float) -> tuple[float, float]:
    """(worst age, its sample time) over the observer's (time, readable rows) samples."""
    steps = [i for i, _ in marks]
    worst, worst_at = 0.0, start
    for t, rows in samples:
        first_unwritten = int(rows)
        later = bisect.bisect_left(steps, first_unwritten)  # first mark at/after it
        if later == len(marks) or marks[later][1] > t:
            continue  # not known to be logged by then: nothing provably unwritten
        before = later - 1  # the step was logged after this mark's step returned
        logged_after = marks[before][1] if before >= 0 else start
        if t - logged_after > worst:
            worst, worst_at = t - logged_after, t
    return worst, worst_at


def observe(run_dir: str) -> None:
    """Poll ``run_dir`` until stdin closes; print the samples as JSON."""
    from flightlog.format import RecordType, RunLogReader

    reader = RunLogReader(Path(run_dir))
    rows = 0
    samples: list[tuple[float, int]] = []
    print("ready", flush=True)
    while True:
        for record in reader.poll():
            if record.type == RecordType.HISTORY:
                rows += int(record.body["rows"])
        samples.append((time.monotonic(), rows))
        if select.select([sys.stdin], [], [], POLL_S)[0] and not sys.stdin.read(1):
            break
    print(json.dumps(samples))


if __name__ == "__main__":
    observe(sys.argv[1])
