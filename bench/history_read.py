"""Time reading back a 10-million-point flightlog run with ``history()``.

What is measured: a finished run of ``--steps`` steps (default 1,000,000) x 10
random float keys ``m0``..``m9`` (seeded ``numpy.random.default_rng``), logged
with ``run.log(row)`` and closed with ``run.finish()``, is read back with
``flightlog.open_run(run.dir).history()``. The read is repeated ``--repeat``
times (default 3) and the median is reported: seconds, rows, points/s, and
PASS/MISS against the target of <= 1 s.

Without ``--keep`` the run is built in a fresh ``tempfile.mkdtemp()`` and
removed at the end. With ``--keep`` it is built once in ``--cache-dir``
(default ``<tmp>/flightlog-bench-history``), kept, and reused by later
``--keep`` runs with the same ``--steps`` and ``--seed``.

Run:
    python bench/history_read.py            # build, time, clean up
    python bench/history_read.py --keep     # build once, reuse next time
    python bench/history_read.py --steps 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _peers import KEYS, dir_bytes, forbid_network
from log_latency import count_rows, import_flightlog

TARGET_READ_S = 1.0
CHUNK_ROWS = 10_000
MARKER = "bench-history.json"


def build_run(root: Path, steps: int, seed: int) -> Path:
    """Log ``steps`` rows into a new flightlog run under ``root``; the run dir."""
    flightlog = import_flightlog()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    run = flightlog.init(project="bench", name="history", dir=str(root))
    for start in range(0, steps, CHUNK_ROWS):
        chunk = rng.random((min(CHUNK_ROWS, steps - start), len(KEYS))).tolist()
        for row in chunk:
            run.log(dict(zip(KEYS, row, strict=True)))
    run.finish()
    run_dir = Path(run.dir)
    size = dir_bytes(run_dir)
    print(
        f"built {steps:,} steps x {len(KEYS)} keys in {time.perf_counter() - t0:.1f} s:"
        f" {size:,} bytes, {size / (steps * len(KEYS)):.2f} B/point, {run_dir}"
    )
    return run_dir


def cached_run(cache: Path, steps: int, seed: int) -> Path | None:
    """The run dir recorded in ``cache`` if it was built with these parameters."""
    marker = cache / MARKER
    if not marker.is_file():
        return None
    meta = json.loads(marker.read_text())
    run_dir = Path(meta["run_dir"])
    if meta.get("steps") == steps and meta.get("seed") == seed and run_dir.is_dir():
        print(f"reusing {steps:,}-step run {run_dir}")
        return run_dir
    return None


def kept_run(cache: Path, steps: int, seed: int) -> Path:
    """Reuse the run in ``cache``, or rebuild it there and record it."""
    found = cached_run(cache, steps, seed)
    if found is not None:
        return found
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    run_dir = build_run(cache, steps, seed)
    meta = {"steps": steps, "seed": seed, "run_dir": str(run_dir)}
    (cache / MARKER).write_text(json.dumps(meta))
    return run_dir


def time_history(run_dir: Path, repeat: int) -> tuple[list[float], int]:
    """Seconds of each ``open_run(run_dir).history()`` call, and its row count."""
    flightlog = import_flightlog()
    seconds, rows = [], 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        history = flightlog.open_run(run_dir).history()
        seconds.append(time.perf_counter() - t0)
        rows = count_rows(history)
        del history
    return seconds, rows


def report(seconds: Sequence[float], rows: int, steps: int) -> None:
    median = statistics.median(seconds)
    points = rows * len(KEYS)
    runs = ", ".join(f"{s:.3f}" for s in seconds)
    print(f"history(): median {median:.3f} s over {len(seconds)} reads ({runs})")
    print(f"rows: {rows:,} (expected {steps:,}); points: {points:,}")
    print(f"throughput: {points / median:,.0f} points/s")
    verdict = "PASS" if median <= TARGET_READ_S else "MISS"
    print(f"{verdict}  read {points:,} points in {median:.3f} s <= {TARGET_READ_S:g} s")
    if rows != steps:
        print(f"WARNING: history() returned {rows:,} rows, logged {steps:,}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--steps", type=int, default=1_000_000, help="rows (10 points each)")
    p.add_argument("--repeat", type=int, default=3, help="reads; the median is reported")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--keep", action="store_true", help="build once in --cache-dir and reuse")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "flightlog-bench-history",
        help="where --keep builds and looks for the run",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeat < 1:
        p.error("--steps and --repeat must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    forbid_network()
    try:
        import_flightlog()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.keep:
        seconds, rows = time_history(kept_run(args.cache_dir, args.steps, args.seed), args.repeat)
        print(f"kept: {args.cache_dir}")
    else:
        root = Path(tempfile.mkdtemp(prefix="flightlog-bench-history-"))
        try:
            run_dir = build_run(root, args.steps, args.seed)
            seconds, rows = time_history(run_dir, args.repeat)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    report(seconds, rows, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
