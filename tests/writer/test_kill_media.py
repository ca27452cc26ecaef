"""Writers of images, charts and tables of image cells killed with SIGKILL at random
moments: every record that survived names attached files that are there and intact
(SPEC.md §10.1: the file is durable before its record), ``verify`` is clean, and what
was logged at least 1 s before the kill reads back."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from flightlog.format.rundir import blob_path
from writer_helpers import Child, verify

import flightlog

BASE_SEED = int(os.environ.get("FLIGHTLOG_TEST_SEED") or random.SystemRandom().randrange(2**31))


@pytest.mark.parametrize("case", range(3))
def test_killed_media_writer_leaves_no_dangling_record(root: Path, case: int) -> None:
    seed = BASE_SEED + case
    rng = random.Random(seed)
    delay, extra = rng.uniform(0.3, 2.0), rng.randrange(0, 40)
    why = f"[seed {seed}; rerun with FLIGHTLOG_TEST_SEED={BASE_SEED}]"
    child = Child("media", root, "killed", f"media{case}")
    try:
        ready = float(child.wait_line("ready")[1])
        n = child.wait_for(lambda lines: len(lines[-1]) == 2 and lines[-1][0] != "ready"
                           and float(lines[-1][1]) >= ready + delay,
                           timeout=delay + 30, what=f"{delay:.2f} s of logging")
        child.wait_for(lambda lines: len(lines) >= n + extra, what=f"{extra} more steps")
        t_kill = time.monotonic()
        child.kill()
    finally:
        child.close()
    steps = [(int(line[0]), float(line[1])) for line in child.lines[1:]
             if len(line) == 2 and line[0].isdigit()]
    run = flightlog.open_run(root / "killed" / f"media{case}")
    assert run.status == "crashed", why
    status, printed = verify(run.dir)
    assert status == 0, f"{why} {printed}"

    images = run.media().get("img", [])
    logged = [item.step for item in images]
    assert logged == list(range(len(logged))), f"{why} image steps are not a prefix"
    durable = [i for i, t in steps if t <= t_kill - 1.0]
    if durable:
        assert len(logged) > max(durable), f"{why} step {max(durable)} was logged >= 1 s " \
                                           f"before the kill but its image is missing"
    for item in images:
        assert item.read_bytes()[:4] == b"\x89PNG", why  # present and matching its hash
        assert item.caption == str(item.step), why
    if logged:
        assert run.charts()["curve"]["data"]["values"][-1] == {"x": logged[-1]}, why
    samples = run.tables().get("samples")
    cells = samples.column("img").to_pylist() if samples is not None else []
    assert len(cells) <= 1, why  # a logged Table is replaced by its next version
    for cell in cells:
        assert blob_path(run.dir, cell["sha256"]).is_file(), why
