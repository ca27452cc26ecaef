"""A writer logging as fast as ``run.log`` returns, SIGKILLed at random moments (SPEC.md §12).

The durability bound must hold at any log rate: a training loop that outruns the
background writer may not pile up records in memory. The child (``child_writer.py
maxrate``) logs ``{"x": float(i), "y": i * 2.0}`` in a tight loop and appends
``"<i> <monotonic>"`` to a progress file (``O_APPEND``) every 200 steps; the test kills it
0.7-2.5 s after its first progress line and checks what the run directory holds:

- every step logged at least 1 s before the kill is readable (``history()``);
- the readable history is a gap-free prefix 0..k with the logged values;
- ``flightlog verify`` exits 0 (a torn tail is a note, never corruption).

Seeds: ``FLIGHTLOG_TEST_SEED`` (default: random); every assertion message names it.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
from writer_helpers import Child, verify, wait_until

import flightlog

BASE_SEED = int(os.environ.get("FLIGHTLOG_TEST_SEED") or random.SystemRandom().randrange(2**31))
DURABLE_AFTER = 1.0  # SPEC.md §12: logged >= 1 s before a kill -> readable afterwards
PROGRESS_EVERY = 200  # steps between progress lines (child_writer.py maxrate)


def progress(path: Path) -> list[tuple[int, float]]:
    """The complete "<i> <monotonic>" lines of the progress file (a line being written
    while we read has no newline yet and is skipped)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]
    return [(int(i), float(t)) for i, t in (line.split() for line in lines)]


def kill_maxrate_writer(root: Path, run_id: str, seed: int,
                        children: list[Child]) -> tuple[list[tuple[int, float]], float, str]:
    """Start the child, SIGKILL it a random 0.7-2.5 s after its first progress line.
    Returns (progress lines, the kill's monotonic time, the failure context)."""
    delay = random.Random(seed).uniform(0.7, 2.5)
    path = root / f"{run_id}.progress"
    child = Child("maxrate", root, "maxrate", run_id, path)
    children.append(child)
    child.wait_line("ready", timeout=60)
    first = wait_until(lambda: progress(path)[:1], timeout=60, what="the first progress line",
                       interval=0.02)
    target = first[0][1] + delay
    # The child's own reports say when it has logged long enough (CLOCK_MONOTONIC is
    # system-wide): no sleep, and a stalled child fails here instead of being killed early.
    # Polled every 20 ms: parsing the file takes CPU from the child on a 2-core machine.
    wait_until(lambda: progress(path)[-1][1] >= target, timeout=delay + 60,
               what=f"{delay:.2f} s of logging", interval=0.02)
    t_kill = time.monotonic()
    child.kill()
    child.close()
    why = (f"[seed {seed}; rerun with FLIGHTLOG_TEST_SEED={BASE_SEED}; killed {delay:.2f} s "
           f"after the first progress line]")
    return progress(path), t_kill, why


@pytest.mark.slow
@pytest.mark.parametrize("n", range(10))
def test_sigkill_a_max_rate_writer(root: Path, children: list[Child], n: int) -> None:
    steps, t_kill, why = kill_maxrate_writer(root, f"run{n}", BASE_SEED + n, children)
    run_dir = root / "maxrate" / f"run{n}"
    r = flightlog.open_run(run_dir)
    assert r.status == "crashed", why
    h = r.history()
    x = h["x"].to_numpy() if h.num_rows else np.array([], dtype=np.float64)
    k = len(x) - 1
    assert np.array_equal(x, np.arange(k + 1, dtype=np.float64)), f"{why} x is not 0..{k}"
    assert np.array_equal(h["y"].to_numpy(), x * 2.0), why
    assert np.array_equal(h["_step"].to_numpy(), np.arange(k + 1)), why
    last_reported = steps[-1][0]
    assert k < last_reported + PROGRESS_EVERY, f"{why} step {k} is beyond what was logged"
    durable = [i for i, t in steps if t <= t_kill - DURABLE_AFTER]
    if durable:
        assert k >= durable[-1], (
            f"{why} step {durable[-1]} was logged >= {DURABLE_AFTER} s before the kill but "
            f"the log ends at step {k} (of {last_reported} reported)")
    status, output = verify(run_dir)
    assert status == 0, f"{why} verify:\n{output}"
    assert "CORRUPT" not in output, why
