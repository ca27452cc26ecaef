"""Time ``flightlog export parquet`` of many runs, and a DuckDB query over the archive
against the same query through ``open_run``.

What is measured: ``--runs`` finished runs (default 100) of ``--points`` points each
(default 100,000: ``points / 4`` steps x 4 keys ``loss`` (float), ``acc`` (float),
``lr`` (float), ``epoch`` (int); seeded numpy randomness; config ``alpha`` one of 5
values), written with flightlog's writer. Then:

1. the export (``export_parquet`` of every run): seconds, points/s (history cells
   written), MB of Parquet vs MB of the run directories, against the targets
   >= 5 M points/s and Parquet <= run directories;
2. "the best final loss per alpha": a DuckDB query over ``history/`` and ``runs/`` vs the
   same answer computed from ``open_run(...)`` of every run directory (history + config);
   both answers must be equal.

Run:
    python bench/export_parquet.py                       # 100 runs x 100,000 points
    python bench/export_parquet.py --runs 20 --points 50000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_POINTS_PER_S = 5_000_000
ALPHAS = [0.01, 0.03, 0.1, 0.3, 1.0]
HIVE = "hive_partitioning=true, hive_types={'project': VARCHAR, 'run': VARCHAR}"


def make_runs(root: Path, runs: int, points: int, seed: int) -> int:
    import flightlog

    rng = np.random.default_rng(seed)
    steps = points // 4
    for r in range(runs):
        alpha = ALPHAS[r % len(ALPHAS)]
        run = flightlog.init(project="bench", id=f"r{r:05d}", dir=root, quiet=True,
                             config={"alpha": alpha, "seed": r})
        loss = (1.0 / (1.0 + np.arange(steps) * alpha) + rng.random(steps) * 0.01).tolist()
        acc = rng.random(steps).tolist()
        for i in range(steps):
            run.log({"loss": loss[i], "acc": acc[i], "lr": 0.001, "epoch": i // 1000})
        run.finish()
    return runs * steps * 4


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def query_duckdb(out: Path) -> list[tuple[float, float]]:
    import duckdb

    sql = f"""
        with final as (
            select project, run, arg_max(value_double, step) as loss
            from read_parquet('{out}/history/**/*.parquet', {HIVE})
            where key = 'loss' group by project, run)
        select r."config.alpha" as alpha, min(f.loss) as best
        from final f join read_parquet('{out}/runs/**/*.parquet', {HIVE},
                                       union_by_name=true) r using (project, run)
        group by alpha order by alpha"""
    return [(float(a), float(b)) for a, b in duckdb.sql(sql).fetchall()]


def query_open_run(root: Path) -> list[tuple[float, float]]:
    from flightlog.format.rundir import find_run_dirs

    import flightlog

    best: dict[float, float] = {}
    for run_dir in find_run_dirs(root):
        run = flightlog.open_run(run_dir)
        losses = [v for v in run.history()["loss"].to_pylist() if v is not None]
        alpha = float(run.config["alpha"])
        best[alpha] = min(best.get(alpha, float("inf")), losses[-1])
    return sorted(best.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from flightlog.exporters.sources import local_runs
    from flightlog.exporters.to_parquet import export_parquet

    work = Path(tempfile.mkdtemp(prefix="flightlog-bench-export-"))
    try:
        root, out = work / "runs", work / "parquet"
        t0 = time.perf_counter()
        total = make_runs(root, args.runs, args.points, args.seed)
        print(f"wrote {args.runs} runs x {args.points:,} points with flightlog's writer in "
              f"{time.perf_counter() - t0:.1f} s")
        from flightlog.format.rundir import find_run_dirs

        import flightlog

        t0 = time.perf_counter()
        flightlog.open_run(find_run_dirs(root)[0]).history()  # one-time imports (pandas)
        print(f"warm-up (imports of the first history() read): "
              f"{time.perf_counter() - t0:.2f} s, not counted below")
        t0 = time.perf_counter()
        for run_dir in find_run_dirs(root):
            flightlog.open_run(run_dir).history()
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = export_parquet(local_runs([root]), out)
        export_s = time.perf_counter() - t0
        rate = report.points / export_s
        run_mb, pq_mb = dir_bytes(root) / 1e6, dir_bytes(out) / 1e6
        print(f"export: {export_s:.2f} s, {report.points:,} points ({total:,} logged), "
              f"{rate / 1e6:.2f} M points/s (target >= {TARGET_POINTS_PER_S / 1e6:.0f} M: "
              f"{'PASS' if rate >= TARGET_POINTS_PER_S else 'MISS'})")
        print(f"  of which reading history() of every run (measured alone): {read_s:.2f} s "
              f"({total / read_s / 1e6:.2f} M points/s)")
        print(f"size: Parquet {pq_mb:.1f} MB vs run directories {run_mb:.1f} MB: ratio "
              f"{pq_mb / run_mb:.2f} (target <= 1: {'PASS' if pq_mb <= run_mb else 'MISS'})")
        t0 = time.perf_counter()
        via_duckdb = query_duckdb(out)
        duck_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        via_open_run = query_open_run(root)
        open_s = time.perf_counter() - t0
        same = via_duckdb == via_open_run
        print(f"best final loss per alpha: DuckDB over Parquet {duck_s:.3f} s, open_run "
              f"over run directories {open_s:.3f} s: DuckDB {open_s / duck_s:.1f}x faster; "
              f"answers {'equal' if same else 'DIFFER'}")
        for alpha, best in via_duckdb:
            print(f"  alpha={alpha:g}: best final loss {best:.6f}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
